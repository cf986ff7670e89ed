"""Bulyan: by hand, the n >= 4f + 3 contract, Flower."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from defense_helpers import context, flower_results, max_abs_diff, random_updates
from flwr.server.strategy.aggregate import aggregate_bulyan, aggregate_krum

from fedarena.defenses.bulyan import Bulyan, mean_nearest_to_median


def test_mean_of_the_values_nearest_the_median():
    # Column 0: median 2, nearest three 1, 2, 2.5. Column 1: median 10, nearest 9, 10, 14
    # (14 is 4 away, 3 is 7 away): the window need not be centred on the median.
    columns = np.sort(
        np.array([[0.0, 3.0], [1.0, 9.0], [2.0, 10.0], [2.5, 14.0], [9.0, 15.0]]), axis=0
    )
    assert mean_nearest_to_median(columns, beta=3).tolist() == [5.5 / 3, 11.0]


def test_selects_theta_by_krum_and_trims_around_the_median():
    x = torch.tensor([[-9.0], [1.0], [1.5], [2.0], [2.5], [3.0], [100.0]])
    out = Bulyan(f=1).aggregate(x, torch.ones(7), context(x))
    # Krum picks 2, then 1.5 (tied with 2.5 on score and total distance: first wins),
    # 2.5, then 3 over 1 and finally 1 over -9 (mutual nearest pairs: ties broken
    # by the total squared distance to the rest). Of 1..3 the median is 2 and the
    # 3 nearest are 1.5, 2, 2.5.
    assert out.update.item() == 2.0
    assert out.accepted.tolist() == [False, True, True, True, True, True, False]


def test_needs_4f_plus_3_clients():
    x = random_updates(10, 3, seed=0)
    with pytest.raises(ValueError, match=r"bulyan needs n >= 4f \+ 3, got n=10, f=2"):
        Bulyan().aggregate(x, torch.ones(10), context(x, f=2))


@pytest.mark.parametrize("n, f, seed", [(15, 3, 0), (23, 5, 1), (31, 4, 2)])
def test_matches_flower(n, f, seed):
    x = random_updates(n, 40, seed)
    ours = Bulyan(f=f).aggregate(x, torch.ones(n), context(x)).update
    theirs = aggregate_bulyan(flower_results(x, torch.ones(n)), f, aggregate_krum, to_keep=0)
    assert max_abs_diff(ours, theirs[0]) <= 1e-5
