"""Geometric median (RFA): fixed points by hand, weights, convergence, byzfl."""

from __future__ import annotations

import pytest
import torch
from defense_helpers import context, max_abs_diff, random_updates

from fedarena.defenses.geometric_median import GeometricMedian


def test_on_a_line_it_is_the_median():
    x = torch.tensor([[0.0], [1.0], [10.0]])
    out = GeometricMedian().aggregate(x, torch.ones(3), context(x))
    assert out.update.item() == pytest.approx(1.0, abs=1e-5)


def test_symmetric_points_meet_at_the_centre():
    square = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    far = torch.tensor([[1e4, 1e4], [-1e4 + 2, -1e4 + 2]])
    x = torch.cat([square, far])
    out = GeometricMedian().aggregate(x, torch.ones(6), context(x))
    torch.testing.assert_close(out.update, torch.tensor([1.0, 1.0]), atol=1e-4, rtol=0)


def test_a_majority_weight_pulls_it_onto_that_point():
    # With a_1 > sum of the others, x_1 is the weighted geometric median.
    x = random_updates(5, 4, seed=0)
    weights = torch.tensor([10.0, 1.0, 1.0, 1.0, 1.0])
    out = GeometricMedian().aggregate(x, weights, context(x))
    torch.testing.assert_close(out.update, x[0], atol=1e-4, rtol=0)


def test_stops_when_the_objective_settles():
    x = random_updates(20, 50, seed=1)
    out = GeometricMedian().aggregate(x, torch.ones(20), context(x))
    assert out.diagnostics["iterations"] < 100
    later = GeometricMedian(iterations=1000, ftol=0.0).aggregate(x, torch.ones(20), context(x))
    assert later.diagnostics["objective"] <= out.diagnostics["objective"] + 1e-9
    assert max_abs_diff(out.update, later.update) < 1e-3


@pytest.mark.parametrize("n, seed", [(7, 0), (15, 1), (30, 2)])
def test_matches_byzfl_at_convergence(byzfl, n, seed):
    # byzfl starts from 0 and we from the mean: run both to the smoothed median's fixed point.
    x = random_updates(n, 20, seed)
    ours = GeometricMedian(iterations=2000, nu=0.1, ftol=0.0).aggregate(
        x, torch.ones(n), context(x)
    )
    assert max_abs_diff(ours.update, byzfl.GeometricMedian(nu=0.1, T=2000)(x)) <= 1e-5
