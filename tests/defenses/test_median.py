"""Coordinate-wise median: odd and even n by hand, Flower and byzfl."""

from __future__ import annotations

import pytest
import torch
from defense_helpers import context, flower_results, max_abs_diff, random_updates
from flwr.server.strategy.aggregate import aggregate_median

from fedarena.defenses.median import Median


def test_odd_and_even_counts():
    odd = torch.tensor([[3.0, -1.0], [1.0, 5.0], [2.0, 1e6]])
    assert Median().aggregate(odd, torch.ones(3), context(odd)).update.tolist() == [2.0, 5.0]
    even = torch.tensor([[3.0], [1.0], [2.0], [100.0]])
    assert Median().aggregate(even, torch.ones(4), context(even)).update.tolist() == [2.5]


def test_ignores_weights():
    x = torch.tensor([[0.0], [1.0], [2.0]])
    assert Median().aggregate(x, torch.tensor([100.0, 1.0, 1.0]), context(x)).update.item() == 1.0


@pytest.mark.parametrize("n, seed", [(9, 0), (20, 1), (51, 2)])
def test_matches_flower_and_byzfl(byzfl, n, seed):
    x = random_updates(n, 300, seed)
    ours = Median().aggregate(x, torch.ones(n), context(x)).update
    assert max_abs_diff(ours, aggregate_median(flower_results(x, torch.ones(n)))[0]) <= 1e-5
    assert max_abs_diff(ours, byzfl.Median()(x)) <= 1e-5
    assert max_abs_diff(ours, byzfl.Median()(x.numpy())) <= 1e-5
