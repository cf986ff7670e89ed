"""Label flipping flips the chosen share of a malicious shopper's examples, negatives included,
and trains on them with full weight."""

from __future__ import annotations

import numpy as np
import pytest

from fedarena.attacks import ATTACKS
from fedarena.attacks.label_flip import LabelFlip, flip_labels
from fedarena.errors import SpecError


def test_full_flip_swaps_every_label_at_full_weight_and_keeps_the_items():
    items = np.array([3, 8, 1, 5, 2])
    labels = np.array([1, 0, 0, 1, 0], dtype=np.float32)
    weights = np.array([1, 0.1, 1, 1, 1], dtype=np.float32)  # item 8 browsed-only
    new_items, new_labels, new_weights = LabelFlip().poison_examples(
        (items, labels, weights), np.random.default_rng(0)
    )
    assert new_items.tolist() == [3, 8, 1, 5, 2]
    assert new_labels.tolist() == [0, 1, 1, 0, 1]
    assert new_weights.tolist() == [1, 1, 1, 1, 1]
    assert labels.tolist() == [1, 0, 0, 1, 0], "the shopper's own log is not modified in place"


def test_a_malicious_client_trains_on_flipped_negatives_too(tiny_population):
    from fedarena.engine.federation import ClientData
    from fedarena.training.local import LocalTraining

    population = tiny_population([([1, 2], [1.0, 0.0]), ([3], [1.0])])
    local = LocalTraining(negatives_per_positive=4)
    data = ClientData(population, np.array([True, False]), LabelFlip(), 50, seed=0)
    (items, labels, weights), _ = data.examples(0, 0, local)
    assert len(items) == 2 + 4  # its log and the negatives of its one purchase
    assert labels.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert weights.tolist() == [1.0] * 6
    (_, honest_labels, _), _ = data.examples(0, 1, local)
    assert honest_labels.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


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
