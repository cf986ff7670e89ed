"""Norm clipping: fixed and adaptive bounds by hand, alone and in a chain, byzfl."""

from __future__ import annotations

import pytest
import torch
from defense_helpers import context, max_abs_diff, random_updates

from fedarena.defenses import create_defense
from fedarena.defenses.norm_clip import NormClip


def test_fixed_bound_scales_only_the_long_updates():
    x = torch.tensor([[3.0, 4.0], [0.6, 0.8], [0.0, 0.0]])
    out = NormClip(max_norm=2.0).preaggregate(x, torch.ones(3), context(x))
    torch.testing.assert_close(out.updates, torch.tensor([[1.2, 1.6], [0.6, 0.8], [0.0, 0.0]]))
    assert out.diagnostics == {"clip_norm": 2.0, "clipped_fraction": pytest.approx(1 / 3)}


def test_adaptive_bound_is_the_median_norm():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [30.0, 40.0]])  # norms 1, 2, 50
    out = NormClip().preaggregate(x, torch.ones(3), context(x))
    assert out.diagnostics["clip_norm"] == 2.0
    torch.testing.assert_close(out.updates[2], torch.tensor([1.2, 1.6]))


def test_alone_it_is_followed_by_the_weighted_mean():
    x = torch.tensor([[10.0, 0.0], [0.0, 1.0]])
    out = NormClip(max_norm=1.0).aggregate(x, torch.tensor([3.0, 1.0]), context(x))
    torch.testing.assert_close(out.update, torch.tensor([0.75, 0.25]))
    assert out.accepted is None


def test_in_front_of_an_aggregator():
    x = random_updates(9, 20, seed=0)
    chained = create_defense("norm_clip(max_norm=1.5) > trimmed_mean(f=2)")
    clipped = NormClip(max_norm=1.5).preaggregate(x, torch.ones(9), context(x)).updates
    expected = create_defense("trimmed_mean(f=2)").aggregate(clipped, torch.ones(9), context(x))
    assert torch.equal(chained.aggregate(x, torch.ones(9), context(x)).update, expected.update)


@pytest.mark.parametrize("bound, seed", [(0.5, 0), (2.0, 1), (100.0, 2)])
def test_matches_byzfl(byzfl, bound, seed):
    x = random_updates(15, 50, seed)
    ours = NormClip(max_norm=bound).preaggregate(x, torch.ones(15), context(x)).updates
    assert max_abs_diff(ours, byzfl.Clipping(bound)(x.clone())) <= 1e-5
