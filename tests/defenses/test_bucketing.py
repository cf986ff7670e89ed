"""Bucketing: bucket means and weights, verdicts mapped back to clients, byzfl."""

from __future__ import annotations

import pytest
import torch
from defense_helpers import context, max_abs_diff, random_updates

from fedarena.defenses import create_defense
from fedarena.defenses.bucketing import Bucketing


def test_buckets_hold_s_shuffled_updates_and_their_total_weight():
    x = torch.arange(7.0)[:, None]
    weights = torch.arange(1.0, 8.0)
    out = Bucketing(s=3).preaggregate(x, weights, context(x, seed=3))
    assert out.updates.shape == (3, 1)
    sizes = torch.bincount(out.source)
    assert sizes.tolist() == [3, 3, 1]
    for bucket in range(3):
        members = out.source == bucket
        assert out.updates[bucket].item() == pytest.approx(x[members].mean().item())
        assert out.weights[bucket].item() == weights[members].sum().item()


def test_the_shuffle_comes_from_the_round_generator():
    x = random_updates(10, 4, seed=0)
    a = Bucketing(s=2).preaggregate(x, torch.ones(10), context(x, seed=1))
    b = Bucketing(s=2).preaggregate(x, torch.ones(10), context(x, seed=1))
    c = Bucketing(s=2).preaggregate(x, torch.ones(10), context(x, seed=2))
    assert torch.equal(a.source, b.source)
    assert not torch.equal(a.source, c.source)


def test_clients_share_the_verdict_on_their_bucket():
    x = random_updates(10, 2, seed=0)
    x[0] = 1e6
    chain = create_defense("bucketing(s=2) > krum(f=1)")
    out = chain.aggregate(x, torch.ones(10), context(x, seed=0))
    source = Bucketing(s=2).preaggregate(x, torch.ones(10), context(x, seed=0)).source
    accepted_bucket = source[out.accepted][0]
    assert torch.equal(out.accepted, source == accepted_bucket)
    assert int(out.accepted.sum()) == 2
    assert not out.accepted[0]


@pytest.mark.parametrize("n, s, seed", [(10, 2, 0), (11, 3, 1), (50, 5, 2)])
def test_matches_byzfl_given_the_same_shuffle(byzfl, n, s, seed):
    x = random_updates(n, 30, seed)
    ours = Bucketing(s=s).preaggregate(x, torch.ones(n), context(x, seed=seed)).updates
    torch.manual_seed(seed)  # byzfl shuffles with torch's global generator
    assert max_abs_diff(ours, byzfl.Bucketing(s)(x)) <= 1e-5
