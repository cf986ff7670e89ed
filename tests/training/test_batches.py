"""Local datasets and batches: every example once per epoch, padding marked, one row per step,
and the lock-step layout the vectorised trainers walk."""

from __future__ import annotations

import numpy as np
import pytest

from fedarena.errors import FedarenaError
from fedarena.training.local import LocalTraining, build_batches, lock_step, training_examples


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
    assert list(batches.first) == [0, int(batches.steps[0])], "one client's rows after another's"
    for c, (items, _, _) in enumerate(data):
        rows = batches.rows(c)
        real = batches.weight[rows] > 0
        got = np.sort(batches.items[rows][real].numpy())
        assert np.array_equal(got, np.sort(np.tile(items, 3)))
        assert len(rows) == int(batches.steps[c]) == 3 * -(-len(items) // 7)
        assert bool(real.any(dim=1).all()), "every row is a step the client takes"


@pytest.mark.parametrize(
    "loss, epochs, batch_size", [("bce", 1, 7), ("bce", 3, 5), ("bpr", 2, 4), ("bpr", 1, 64)]
)
def test_each_row_is_the_next_batch_of_its_epochs_order(population, rng, loss, epochs, batch_size):
    """Row by row, from the definition: each epoch's order drawn from the client's generator,
    then its training seed; a batch holds the next ``batch_size`` examples (pairs for
    ``bpr``, side by side), zero past the epoch's end. A client without examples takes one
    all-padding step per epoch."""
    config = LocalTraining(epochs=epochs, batch_size=batch_size, loss=loss)
    data = [training_examples(*population.train_log(s), 400, config, rng) for s in range(4)]
    data.append(tuple(np.zeros(0, dtype) for dtype in (np.int64, np.float32, np.float32)))
    batches = build_batches(data, config, [np.random.default_rng(c) for c in range(len(data))])
    tables = (batches.items, batches.labels, batches.weight)
    sides = 2 if loss == "bpr" else 1
    for c, example in enumerate(data):
        again, size = np.random.default_rng(c), len(example[0]) // sides
        rows = iter(batches.rows(c))
        for _ in range(epochs):
            order = again.permutation(size)
            for start in range(0, max(size, 1), batch_size):
                row, picked = next(rows), order[start : start + batch_size]
                for column, table in zip(example, tables, strict=True):
                    expected = np.zeros((sides, batch_size), dtype=table.numpy().dtype)
                    expected[:, : len(picked)] = column.reshape(sides, size)[:, picked]
                    assert np.array_equal(table[row].numpy(), expected.reshape(-1))
        assert next(rows, None) is None, "no row beyond the client's epochs"
        assert int(batches.seeds[c]) == int(again.integers(2**62))


def test_lock_step_lays_out_the_active_clients_of_every_step(population, rng):
    config = LocalTraining(epochs=1, batch_size=5)
    shoppers = (0, 1, 2, 3)
    data = [training_examples(*population.train_log(s), 400, config, rng) for s in shoppers]
    batches = build_batches(data, config, [np.random.default_rng(s) for s in shoppers])
    plan = lock_step(batches)
    ranked = batches.steps[plan.order]
    assert bool((ranked[:-1] >= ranked[1:]).all()), "clients by decreasing steps"
    for t in range(batches.n_steps):
        clients = plan.order[: plan.active[t]].tolist()
        assert clients == [c for c in plan.order.tolist() if batches.steps[c] > t]
        expected = [batches.rows(c)[t] for c in clients]
        assert plan.rows[plan.block(t)].tolist() == expected
        assert plan.owner[plan.block(t)].tolist() == list(range(plan.active[t]))
    assert sorted(plan.rows.tolist()) == list(range(len(batches.items))), "every row once"


@pytest.mark.parametrize(
    "field, value",
    [("epochs", 0), ("batch_size", 0), ("lr", 0.0), ("optimizer", "rmsprop"), ("prox_mu", -1.0)],
)
def test_bad_local_options_are_one_line_errors(field, value):
    with pytest.raises(FedarenaError, match=field.split("_")[0]):
        LocalTraining(**{field: value})
