"""Whatever a client sends, only well-formed float vectors reach a defense."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedarena.attacks.base import MAX_REPORTED_EXAMPLES
from fedarena.engine.guard import screen, screen_sparse, usable_weight
from fedarena.scenario.world import build_world
from fedarena.updates import SparseUpdates
from tiny import TINY


def test_malformed_updates_are_rejected():
    d = 4
    sent = [
        torch.ones(d),
        torch.tensor([1.0, float("nan"), 0.0, 0.0]),
        torch.tensor([float("inf"), 0.0, 0.0, 0.0]),
        torch.full((d,), 3e38),  # finite entries, norm beyond float32
        torch.ones(d + 1),
        torch.ones(d, dtype=torch.int64),
        np.ones(d),
        "hello",
        None,
        torch.ones(d, dtype=torch.float64) * 2,
    ]
    kept, valid = screen(sent, d)
    assert valid.tolist() == [True] + [False] * 8 + [True]
    assert kept.dtype == torch.float32
    assert torch.equal(kept, torch.stack([torch.ones(d), torch.full((d,), 2.0)]))


def test_nothing_valid_gives_an_empty_stack():
    kept, valid = screen([None, torch.ones(2)], 3)
    assert kept.shape == (0, 3) and not valid.any()


def test_only_counts_in_the_reported_range_are_weights():
    usable = [1, 7.5, float(MAX_REPORTED_EXAMPLES)]
    unusable = [0, -3, 0.5, 1e300, float("inf"), float("nan"), True, "12", None, 2**31]
    assert [usable_weight(v) for v in usable] == [1.0, 7.5, float(MAX_REPORTED_EXAMPLES)]
    assert [usable_weight(v) for v in unusable] == [None] * len(unusable)


@pytest.mark.parametrize(
    "defense", ["fedavg", "multi_krum", "flame", "foolsgold", "geometric_median"]
)
def test_an_absurd_count_is_rejected_and_flagged_not_a_zeroed_round(defense):
    world = build_world(replace(TINY, defense=defense))
    federation = world.federation(users=world.init_users.clone())
    plan = federation.plan_round(0)
    result = federation.train(0, plan.clients, plan.local)
    sent = list(result.updates.dense())
    weights = [float(n) for n in world.population.n_train[plan.clients]]
    weights[0] = 1e300
    before = federation.global_params.clone()
    record = federation.finish_round(plan, sent, weights, result.loss)
    assert record.n_rejected == 1 and record.flagged >= 1 and not record.skipped_step
    assert torch.isfinite(federation.global_params).all()
    assert not torch.equal(federation.global_params, before)


def test_rows_of_one_matrix_are_screened_without_a_copy_and_others_stacked():
    matrix = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    whole, valid = screen(list(matrix), 3)
    assert valid.all() and torch.equal(whole, matrix)
    assert whole.data_ptr() == matrix.data_ptr()  # the same memory
    # Rows out of order, from two tensors, a skipped row, a float64 row: stacked as before.
    other = torch.ones(3)
    for rows in (
        [matrix[1], matrix[0]],
        [matrix[0], other],
        [matrix[0], matrix[2]],
        [matrix[0].double(), matrix[1]],
    ):
        kept, _ = screen(rows, 3)
        assert torch.equal(kept, torch.stack([r.float() for r in rows]))
        assert kept.data_ptr() != matrix.data_ptr()
    kept, valid = screen([matrix[0], torch.full((3,), float("nan")), matrix[1]], 3)
    assert valid.tolist() == [True, False, True] and torch.equal(kept, matrix[:2])


def test_the_sparse_screen_refuses_a_non_finite_or_float32_overflowing_norm():
    values = torch.ones(5, 2)
    given = torch.tensor([1.0, float("nan"), float("inf"), 1e39, 2.0], dtype=torch.float64)
    usable = torch.tensor([True, True, True, True, False])
    kept, valid = screen_sparse(SparseUpdates(values, torch.tensor([0, 3]), 6, given), usable)
    assert valid.tolist() == [True, False, False, False, False]
    assert len(kept) == 1 and torch.equal(kept.norms(), given[:1])
    # without given norms it computes them: an infinite entry is refused likewise
    values[1, 0] = float("inf")
    _, valid = screen_sparse(SparseUpdates(values, None, 2), torch.ones(5, dtype=torch.bool))
    assert valid.tolist() == [True, False, True, True, True]
