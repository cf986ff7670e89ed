"""Nearest-neighbour mixing: by hand and against byzfl."""

from __future__ import annotations

import pytest
import torch
from defense_helpers import context, max_abs_diff, random_updates

from fedarena.defenses.nnm import NearestNeighbourMixing


def test_each_update_becomes_the_mean_of_its_n_minus_f_nearest():
    x = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    out = NearestNeighbourMixing(f=2).preaggregate(x, torch.ones(4), context(x)).updates
    assert out[:, 0].tolist() == [0.5, 0.5, 2.0, 6.5]


def test_needs_f_below_n():
    x = random_updates(3, 2, seed=0)
    with pytest.raises(ValueError, match="nnm needs f < n, got n=3, f=3"):
        NearestNeighbourMixing().preaggregate(x, torch.ones(3), context(x, f=3))


@pytest.mark.parametrize("n, f, seed", [(10, 2, 0), (25, 8, 1), (40, 0, 2)])
def test_matches_byzfl(byzfl, n, f, seed):
    x = random_updates(n, 30, seed)
    ours = NearestNeighbourMixing(f=f).preaggregate(x, torch.ones(n), context(x)).updates
    assert max_abs_diff(ours, byzfl.NNM(f)(x)) <= 1e-5
