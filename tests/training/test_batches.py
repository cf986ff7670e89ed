"""Local datasets and batches: every example once per epoch, padding marked, steps a prefix."""

from __future__ import annotations

import numpy as np
import pytest

from fedarena.errors import FedarenaError
from fedarena.training.local import LocalTraining, build_batches, training_examples


def test_examples_hold_log_plus_uniform_negatives(population, rng):
    items, labels = population.train_log(0)
    config = LocalTraining(negatives_per_positive=3, browsed_weight=0.25)
    ex_items, ex_labels, ex_weights = training_examples(items, labels, 400, config, rng)
    n_pos = int(labels.sum())
    assert len(ex_items) == len(items) + 3 * n_pos
    assert ex_labels.sum() == n_pos
    assert np.all(ex_weights[: len(items)][labels == 0] == 0.25)
    assert np.all(ex_weights[len(items) :] == 1.0)


def test_each_example_appears_once_per_epoch(population, rng):
    config = LocalTraining(epochs=3, batch_size=7)
    data = [training_examples(*population.train_log(s), 400, config, rng) for s in (0, 1)]
    batches = build_batches(data, config, [np.random.default_rng(s) for s in (0, 1)])
    for c, (items, _, _) in enumerate(data):
        real = batches.weight[c] > 0
        got = np.sort(batches.items[c][real].numpy())
        assert np.array_equal(got, np.sort(np.tile(items, 3)))
        steps = batches.active[c].numpy()
        assert steps.sum() == 3 * -(-len(items) // 7)
        assert np.all(np.diff(steps.astype(int)) <= 0), "active steps form a prefix"


@pytest.mark.parametrize(
    "field, value",
    [("epochs", 0), ("batch_size", 0), ("lr", 0.0), ("optimizer", "rmsprop"), ("prox_mu", -1.0)],
)
def test_bad_local_options_are_one_line_errors(field, value):
    with pytest.raises(FedarenaError, match=field.split("_")[0]):
        LocalTraining(**{field: value})
