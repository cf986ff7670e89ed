"""Sybil: fake shoppers appended to the federation, their updates coordinated."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.attacks import ATTACKS
from fedarena.attacks.sybil import Sybil
from fedarena.attacks.targets import purchase_counts
from fedarena.errors import SpecError


def _enrol(spec, population, catalog, n_malicious=4, seed=0):
    attack = ATTACKS.create(spec, seed=0, catalog=catalog)
    enrolled, ids = attack.enrol(population, catalog, n_malicious, np.random.default_rng(seed))
    return attack, enrolled, ids


@pytest.mark.parametrize("spec, expected", [("sybil", 4), ("sybil(identities=7)", 7)])
def test_budget_as_scenario_count_or_explicit_count(population, catalog, spec, expected):
    _, enrolled, ids = _enrol(spec, population, catalog)
    assert len(enrolled) == len(population) + expected
    assert ids.tolist() == list(range(len(population), len(population) + expected))


def test_budget_as_fraction_of_the_real_shoppers(population, catalog):
    _, _, ids = _enrol("sybil(identities=0.1)", population, catalog)
    assert len(ids) == round(0.1 * len(population))


def test_real_shoppers_are_untouched_and_fakes_have_no_test_purchases(population, catalog):
    _, enrolled, ids = _enrol("sybil", population, catalog)
    n = len(population)
    for s in (0, n // 2, n - 1):
        for mine, theirs in zip(enrolled.train_log(s), population.train_log(s), strict=True):
            assert np.array_equal(mine, theirs)
    assert np.array_equal(enrolled.test_shopper, population.test_shopper)
    assert np.array_equal(enrolled.test_items, population.test_items)
    assert (enrolled.persona[ids] == -1).all()
    assert np.allclose(enrolled.affinity[ids].sum(axis=1), 1.0)


def test_promotion_fakes_buy_the_targets_and_popular_items(population, catalog):
    attack, enrolled, ids = _enrol("sybil(filler=6)", population, catalog)
    counts = purchase_counts(population, len(catalog))
    popular_cut = np.sort(counts)[::-1][int(np.ceil(0.1 * len(catalog))) - 1]
    for s in ids:
        items, labels = enrolled.train_log(int(s))
        assert (labels == 1).all() and len(items) == len(attack.target_items) + 6
        assert np.isin(attack.target_items, items).all()
        fillers = items[~np.isin(items, attack.target_items)]
        assert len(set(fillers.tolist())) == 6 and (counts[fillers] >= popular_cut).all()


@pytest.mark.parametrize("fillers, n_popular", [("random", None), ("bandwagon", 2)])
def test_random_and_bandwagon_fakes_draw_their_other_fillers_uniformly(
    population, catalog, fillers, n_popular
):
    attack, enrolled, ids = _enrol(
        f"sybil(filler=20, fillers={fillers}, identities=40)", population, catalog
    )
    counts = purchase_counts(population, len(catalog)).astype(float)
    counts[attack.target_items] = 0
    popular = np.argsort(-counts, kind="stable")[: int(np.ceil(0.1 * len(catalog)))]
    popular = popular[counts[popular] > 0]
    drawn = []
    for s in ids:
        items, labels = enrolled.train_log(int(s))
        assert (labels == 1).all() and len(items) == len(attack.target_items) + 20
        fillers_of = items[~np.isin(items, attack.target_items)]
        assert len(set(fillers_of.tolist())) == 20
        if n_popular is not None:  # at least the bandwagon's selected popular items
            assert np.isin(fillers_of, popular).sum() >= n_popular
        drawn.append(fillers_of)
    # Uniform fillers reach far outside the popular tenth: about 90 % of them land there.
    outside = 1 - np.isin(np.concatenate(drawn), popular).mean()
    assert outside > 0.7


def test_fillers_is_checked_and_applies_to_promotion_only():
    with pytest.raises(ValueError, match="fillers must be one of popular, random, bandwagon"):
        Sybil(fillers="nearest")
    with pytest.raises(ValueError, match="payload=promotion only"):
        Sybil(payload="label_flip", fillers="random")


def test_default_filler_is_the_median_real_purchase_count(population, catalog):
    _, enrolled, ids = _enrol("sybil", population, catalog)
    purchases = [population.train_log(s)[1].sum() for s in range(len(population))]
    assert enrolled.n_train[ids[0]] == 1 + round(float(np.median(purchases)))


def test_label_flip_payload_replays_real_logs_flipped(population, catalog):
    attack, enrolled, ids = _enrol("sybil(payload=label_flip)", population, catalog)
    assert attack.goal == "untargeted" and len(attack.target_items) == 0
    real = {
        tuple(population.train_log(s)[0].tolist()): population.train_log(s)[1]
        for s in range(len(population))
    }
    for s in ids:
        items, labels = enrolled.train_log(int(s))
        assert np.array_equal(labels, 1 - real[tuple(items.tolist())])


def test_enrolment_is_fixed_by_the_generator(population, catalog):
    _, a, _ = _enrol("sybil", population, catalog, seed=5)
    _, b, _ = _enrol("sybil", population, catalog, seed=5)
    assert np.array_equal(a.train_items, b.train_items)


@pytest.mark.parametrize(
    "c, expected",
    [
        (1.0, [[2.0, 1.0], [2.0, 1.0]]),
        (0.0, [[1.0, 0.0], [3.0, 2.0]]),
        (0.5, [[1.5, 0.5], [2.5, 1.5]]),
    ],
)
def test_coordination_interpolates_between_own_and_mean_update(ctx, c, expected):
    updates = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    malicious = torch.tensor([True, True, False])
    attack = Sybil(coordination=c, boost=1.0, targets=[0])
    sent = attack.craft(updates, malicious, ctx(updates, malicious))
    assert torch.stack(sent[:2]).tolist() == expected
    assert sent[2].tolist() == [5.0, 5.0]


def test_auto_boost_moves_the_model_as_one_replacement(ctx):
    # 2 Sybils of n = 8 clients, server gain 0.5: each sends n / (m g) = 8 times the shared update.
    updates = torch.tensor([[1.0, 0.0], [3.0, 2.0]] + [[0.0, 0.0]] * 6)
    malicious = torch.arange(8) < 2
    sent = Sybil(targets=[0]).craft(updates, malicious, ctx(updates, malicious, server_gain=0.5))
    assert torch.stack(sent[:2]).tolist() == [[16.0, 8.0], [16.0, 8.0]]
    assert 0.5 * torch.stack(sent).mean(dim=0).tolist()[0] == pytest.approx(2.0)  # their mean


def test_reported_examples_is_a_shared_attack_option():
    attack = ATTACKS.create("sybil(report_examples=500)")
    assert attack.reported_examples(12) == 500
    assert ATTACKS.create("sybil").reported_examples(12) == 12


def test_where_it_acts_follows_coordination_and_boost():
    assert ATTACKS.create("sybil").acts_on == {"enrolment", "update"}
    assert ATTACKS.create("sybil(coordination=0.0)").acts_on == {"enrolment", "update"}
    assert ATTACKS.create("sybil(coordination=0.0, boost=1)").acts_on == {"enrolment"}


@pytest.mark.parametrize(
    "options, message",
    [
        ("identities=-1", r"identities must be a count in \[0, 1000000\] or a fraction in"),
        ("identities=1.0", r"identities must be a count in \[0, 1000000\] or a fraction in"),
        ("identities=1000000000", r"identities must be a count in \[0, 1000000\]"),
        ("coordination=1.5", r"coordination must be in \[0, 1\]"),
        ("payload=spam", "payload must be one of promotion, label_flip"),
        ("payload=label_flip, targets=[1]", "payload=promotion only"),
        ("filler=-2", "filler must be a number of items >= 0"),
        ("boost=0", "boost must be 'auto' or a number > 0"),
        ("report_examples=0", "report_examples must be an integer >= 1"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(SpecError, match=message):
        ATTACKS.create(f"sybil({options})")
