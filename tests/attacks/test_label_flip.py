"""Label flipping swaps bought and browsed-only on the chosen share of the log."""

from __future__ import annotations

import numpy as np
import pytest

from fedarena.attacks import ATTACKS
from fedarena.attacks.label_flip import LabelFlip, flip_labels
from fedarena.errors import SpecError


def test_full_flip_swaps_every_label_and_keeps_the_items():
    items = np.array([3, 8, 1, 5, 2])
    labels = np.array([1, 0, 0, 1, 0], dtype=np.float32)
    new_items, new_labels = LabelFlip().poison(items, labels, 10, np.random.default_rng(0))
    assert new_items.tolist() == [3, 8, 1, 5, 2]
    assert new_labels.tolist() == [0, 1, 1, 0, 1]
    assert labels.tolist() == [1, 0, 0, 1, 0], "the shopper's own log is not modified in place"


@pytest.mark.parametrize("ratio, n, flipped", [(0.4, 5, 2), (0.5, 8, 4), (0.1, 30, 3)])
def test_partial_flip_changes_exactly_round_ratio_n_labels(ratio, n, flipped):
    labels = (np.arange(n) % 3 == 0).astype(np.float32)
    out = flip_labels(labels, ratio, np.random.default_rng(1))
    changed = out != labels
    assert changed.sum() == flipped
    assert np.array_equal(out[changed], 1 - labels[changed])


def test_partial_flip_is_drawn_from_the_generator():
    labels = np.zeros(50, dtype=np.float32)
    a = flip_labels(labels, 0.2, np.random.default_rng(3))
    b = flip_labels(labels, 0.2, np.random.default_rng(3))
    c = flip_labels(labels, 0.2, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_declares_untargeted_data_poisoning():
    attack = ATTACKS.create("label_flip(ratio=0.5)")
    assert attack.acts_on == {"data"} and attack.goal == "untargeted"


@pytest.mark.parametrize("ratio", [0, -0.1, 1.5])
def test_ratio_outside_0_1_is_refused(ratio):
    with pytest.raises(SpecError, match=r"ratio must be in \(0, 1\]"):
        ATTACKS.create(f"label_flip(ratio={ratio})")
