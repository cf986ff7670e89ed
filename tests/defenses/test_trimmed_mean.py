"""Coordinate-wise trimmed mean: by hand, the n > 2f contract, Flower and byzfl."""

from __future__ import annotations

import pytest
import torch
from defense_helpers import context, flower_results, max_abs_diff, random_updates
from flwr.server.strategy.aggregate import aggregate_trimmed_avg

from fedarena.defenses.trimmed_mean import TrimmedMean


def test_drops_f_largest_and_smallest_per_coordinate():
    x = torch.tensor([[1.0, 40.0], [2.0, -7.0], [3.0, 10.0], [4.0, 20.0], [-99.0, 30.0]])
    out = TrimmedMean(f=1).aggregate(x, torch.ones(5), context(x))
    assert out.update.tolist() == [2.0, 20.0]  # (1+2+3)/3 and (10+20+30)/3
    assert out.accepted is None


def test_beta_trims_floor_of_beta_n():
    x = torch.arange(10.0)[:, None]
    assert TrimmedMean(beta=0.25).aggregate(x, torch.ones(10), context(x)).update.item() == 4.5
    x[-2:] = 1e9
    assert TrimmedMean(beta=0.2).aggregate(x, torch.ones(10), context(x)).update.item() == 4.5


def test_f_from_context_and_its_contract():
    x = random_updates(6, 4, seed=0)
    assert torch.equal(
        TrimmedMean().aggregate(x, torch.ones(6), context(x, f=2)).update,
        TrimmedMean(f=2).aggregate(x, torch.ones(6), context(x)).update,
    )
    with pytest.raises(ValueError, match=r"trimmed_mean needs n > 2f, got n=6, f=3"):
        TrimmedMean().aggregate(x, torch.ones(6), context(x, f=3))
    with pytest.raises(ValueError, match="not both"):
        TrimmedMean(f=1, beta=0.1)


@pytest.mark.parametrize("n, beta, seed", [(10, 0.1, 0), (25, 0.2, 1), (50, 0.45, 2)])
def test_matches_flower(n, beta, seed):
    x = random_updates(n, 200, seed)
    ours = TrimmedMean(beta=beta).aggregate(x, torch.ones(n), context(x)).update
    assert (
        max_abs_diff(ours, aggregate_trimmed_avg(flower_results(x, torch.ones(n)), beta)[0]) <= 1e-5
    )


@pytest.mark.parametrize("n, f, seed", [(10, 1, 0), (25, 5, 1), (50, 24, 2)])
def test_matches_byzfl(byzfl, n, f, seed):
    x = random_updates(n, 200, seed)
    ours = TrimmedMean(f=f).aggregate(x, torch.ones(n), context(x)).update
    assert max_abs_diff(ours, byzfl.TrMean(f)(x.numpy())) <= 1e-5
