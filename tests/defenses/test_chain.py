"""Chains: parsing, roles of the links, composition, verdicts, optional parts, early checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from defense_helpers import context, random_updates

from fedarena.defenses import (
    Chain,
    ClientSide,
    PrivacyAccounting,
    RoundContext,
    UsesRootSet,
    create_defense,
    split_chain,
)
from fedarena.defenses.bucketing import Bucketing
from fedarena.defenses.krum import Krum
from fedarena.defenses.nnm import NearestNeighbourMixing
from fedarena.defenses.norm_clip import NormClip
from fedarena.errors import SpecError


def test_split_at_top_level_arrows_only():
    assert split_chain("norm_clip(max_norm=1.0) > trimmed_mean(beta=0.1)") == [
        "norm_clip(max_norm=1.0)",
        "trimmed_mean(beta=0.1)",
    ]
    assert split_chain("a(x='>') > b(y=[1, 2])>c") == ["a(x='>')", "b(y=[1, 2])", "c"]
    with pytest.raises(SpecError, match="empty link"):
        split_chain("norm_clip >")


def test_a_single_name_is_the_defense_itself():
    assert not isinstance(create_defense("krum"), Chain)
    assert isinstance(create_defense("norm_clip > krum"), Chain)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("krum > median", "krum aggregates, so it can only be the last link"),
        ("dp_sgd > dp_sgd", "only one link may be one that trains clients"),
        ("dp_sgd > central_dp", "only one link may be one that accounts privacy"),
        ("norm_clip > nope", "unknown defense 'nope'"),
    ],
)
def test_bad_chains(spec, message):
    with pytest.raises(SpecError, match=message):
        create_defense(spec)


def test_requirements_are_checked_at_setup_on_the_rows_each_link_receives():
    with pytest.raises(SpecError, match=r"bulyan needs n >= 4f \+ 3, got n=20, f=5"):
        create_defense("bulyan", n_malicious=5, n_clients=20)
    with pytest.raises(SpecError, match=r"krum needs n > 2f \+ 2, got n=10, f=4 \(the rows left"):
        create_defense("bucketing(s=2) > krum", n_malicious=4, n_clients=20)
    create_defense("bucketing(s=2) > krum", n_malicious=3, n_clients=20)


def test_links_apply_in_order():
    x = random_updates(12, 20, seed=0)
    ctx = context(x, f=2, seed=3)
    chain = create_defense("nnm(f=2) > bucketing(s=2) > geometric_median")
    mixed = NearestNeighbourMixing(f=2).preaggregate(x, torch.ones(12), ctx)
    buckets = Bucketing(s=2).preaggregate(mixed.updates, mixed.weights, context(x, f=2, seed=3))
    expected = create_defense("geometric_median").aggregate(buckets.updates, buckets.weights, ctx)
    torch.testing.assert_close(
        chain.aggregate(x, torch.ones(12), context(x, f=2, seed=3)).update, expected.update
    )


def test_non_finite_rows_dropped_by_a_preaggregator_are_flagged():
    x = random_updates(10, 5, seed=1)
    x[4, 0] = float("nan")
    out = create_defense("norm_clip > multi_krum(f=1)").aggregate(x, torch.ones(10), context(x))
    assert not out.accepted[4]
    assert out.accepted.sum() == 8  # multi-Krum keeps 9 - 1 of the 9 finite ones
    assert out.diagnostics["norm_clip.rejected_nonfinite"] == 1


def test_the_chain_exposes_its_links_optional_parts():
    chain = create_defense("dp_sgd(noise_multiplier=1.0) > norm_clip > fltrust(root_shoppers=7)")
    assert chain.root_shoppers == 7
    assert isinstance(chain, ClientSide) and isinstance(chain, PrivacyAccounting)
    assert isinstance(chain, UsesRootSet)
    plain = create_defense("norm_clip > krum")
    assert not isinstance(plain, ClientSide | PrivacyAccounting | UsesRootSet)


def test_later_links_see_row_ids_and_f_less_the_dropped():
    seen = []

    class Spy:
        def aggregate(self, updates, weights, ctx):
            seen.append(ctx)
            return create_defense("fedavg").aggregate(updates, weights, ctx)

    x = random_updates(6, 3, seed=2)
    x[1, 0] = float("inf")
    ctx = dataclasses.replace(context(x, f=2), client_ids=np.array([10, 11, 12, 13, 14, 15]))
    Chain([create_defense("norm_clip"), Spy()], "norm_clip > spy").aggregate(x, torch.ones(6), ctx)
    assert seen[0].client_ids.tolist() == [10, 12, 13, 14, 15]
    assert seen[0].n_malicious == 1
    Chain([create_defense("bucketing(s=2)"), Spy()], "bucketing > spy").aggregate(
        x, torch.ones(6), ctx
    )
    ids = seen[1].client_ids.tolist()
    assert (
        len(ids) == 3 and (11 not in ids) and any(i >= 10 for i in ids) and any(i < 0 for i in ids)
    )


def test_suspicion_of_rows_left_in_place_is_the_clients_and_a_dropped_client_is_inf():
    x = random_updates(10, 5, seed=4)
    x[6, 2] = float("nan")
    out = create_defense("norm_clip(max_norm=1) > krum(f=2)").aggregate(
        x, torch.ones(10), context(x)
    )
    finite = torch.arange(10) != 6
    clipped = NormClip(max_norm=1).preaggregate(x[finite], torch.ones(9), context(x)).updates
    expected = Krum(f=2).aggregate(clipped, torch.ones(9), context(clipped)).suspicion
    assert out.suspicion.shape == (10,) and out.suspicion[6] == float("inf")
    torch.testing.assert_close(out.suspicion[finite], expected)


def test_clients_sharing_a_bucket_share_its_suspicion():
    x = random_updates(20, 5, seed=5)
    out = create_defense("bucketing(s=2) > krum(f=3)").aggregate(
        x, torch.ones(20), context(x, seed=7)
    )
    buckets = Bucketing(s=2).preaggregate(x, torch.ones(20), context(x, seed=7))
    rows = Krum(f=3).aggregate(buckets.updates, buckets.weights, context(buckets.updates))
    assert out.suspicion.shape == (20,)
    torch.testing.assert_close(out.suspicion, rows.suspicion[buckets.source])


def test_a_chain_whose_aggregator_scores_no_one_has_no_suspicion():
    x = random_updates(8, 5, seed=6)
    x[0, 0] = float("nan")
    assert (
        create_defense("norm_clip > median").aggregate(x, torch.ones(8), context(x)).suspicion
        is None
    )


@pytest.mark.parametrize("spec", ["norm_clip > krum", "bucketing > median", "nnm > trimmed_mean"])
def test_a_chain_given_only_non_finite_rows_returns_the_zero_update_and_flags_everyone(spec):
    # The hardening issue's reproduction: these chains raised IndexError here.
    updates = torch.full((6, 4), float("nan"))
    result = create_defense(spec).aggregate(
        updates, torch.ones(6), RoundContext.for_updates(updates, n_malicious=1)
    )
    assert torch.equal(result.update, torch.zeros(4))
    assert result.accepted is not None and not result.accepted.any()
