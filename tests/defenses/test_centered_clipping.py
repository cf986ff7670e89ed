"""Centered clipping: two rounds by hand (the centre carries over), byzfl."""

from __future__ import annotations

import pytest
import torch
from defense_helpers import context, max_abs_diff, random_updates

from fedarena.defenses.centered_clipping import CenteredClipping


def test_each_client_moves_the_centre_by_at_most_tau_over_n():
    cc = CenteredClipping(tau=1.0)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [100.0, 0.0]])
    first = cc.aggregate(x, torch.ones(3), context(x)).update
    torch.testing.assert_close(first, torch.tensor([2 / 3, 1 / 3]))
    # Round 2 starts from v = (2/3, 1/3): x - v = (0, 0) for the first client, the
    # second is (-2/3, 2/3) with norm 0.943 < 1, the third is clipped to length 1.
    y = torch.tensor([[2 / 3, 1 / 3], [0.0, 1.0], [2 / 3, 1e6]])
    second = cc.aggregate(y, torch.ones(3), context(y)).update
    expected = (
        torch.tensor([2 / 3, 1 / 3])
        + (torch.tensor([-2 / 3, 2 / 3]) + torch.tensor([0.0, 1.0])) / 3
    )
    torch.testing.assert_close(second, expected)


def test_more_iterations_move_towards_the_majority():
    x = torch.tensor([[5.0], [5.0], [5.0], [-100.0]])
    one = CenteredClipping(tau=1.0, iterations=1).aggregate(x, torch.ones(4), context(x)).update
    many = CenteredClipping(tau=1.0, iterations=50).aggregate(x, torch.ones(4), context(x)).update
    assert one.item() == pytest.approx(0.5)
    assert 4.0 < many.item() < 5.0


@pytest.mark.parametrize("tau, iterations, seed", [(1.0, 1, 0), (5.0, 3, 1), (0.5, 5, 2)])
def test_matches_byzfl_over_two_rounds(byzfl, tau, iterations, seed):
    ours = CenteredClipping(tau=tau, iterations=iterations)
    theirs = byzfl.CenteredClipping(tau=tau, L=iterations)
    for r in range(2):
        x = random_updates(12, 50, seed + 10 * r)
        out = ours.aggregate(x, torch.ones(12), context(x)).update
        assert max_abs_diff(out, theirs(x)) <= 1e-5
