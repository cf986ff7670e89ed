"""The threat model, one test per promise: attackers skip client-side defenses, report the
sample counts they choose, read only what their knowledge declares, and defenses are told
the f of ``assumed_f``."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import ClassVar

import numpy as np
import pytest
import torch
from scipy.stats import hypergeom

from fedarena.attacks.base import ATTACKS, Attack
from fedarena.engine.assumed_f import BOUND_LEVEL, AssumedF, parse_assumed_f, tail_bound
from fedarena.errors import SpecError
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from fedarena.strategies.base import sample_uniform
from tiny import TINY

ATTACKED = replace(TINY, malicious_fraction=0.3, attack="model_replacement(gamma=1)")


def _round_updates(scenario):
    world = build_world(scenario)
    federation = world.federation(users=world.init_users.clone())
    plan = federation.plan_round(0)
    result = federation.train(0, plan.clients, plan.local)
    return world.malicious[plan.clients], result.updates.dense()


def test_a_client_side_defense_never_touches_a_malicious_update():
    malicious, plain = _round_updates(replace(ATTACKED, defense="fedavg"))
    _, with_dp = _round_updates(replace(ATTACKED, defense="dp_sgd(noise_multiplier=1)"))
    assert malicious.any() and (~malicious).any()
    assert torch.equal(with_dp[malicious], plain[malicious])
    assert not torch.allclose(with_dp[~malicious], plain[~malicious])


class Spy(Attack):
    """Records what the engine hands an attack, and crafts nothing."""

    seen: ClassVar[list] = []

    def __init__(self, knowledge: str = "none") -> None:
        self.knowledge = knowledge

    def craft(self, updates, malicious, ctx):
        Spy.seen.append(ctx.benign_updates)
        return list(updates)


@pytest.mark.parametrize(
    "knowledge, reads", [("none", False), ("own", False), ("omniscient", True)]
)
def test_an_attack_reads_the_benign_updates_only_if_it_declares_them(monkeypatch, knowledge, reads):
    monkeypatch.setattr(Spy, "seen", [])
    scenario = replace(ATTACKED, attack=f"test_threat_model:Spy(knowledge={knowledge})")
    world = build_world(scenario)
    world.federation(users=world.init_users.clone()).step(0)
    assert (Spy.seen[0] is not None) is reads


def test_reported_counts_reach_the_server_weights(monkeypatch):
    world = build_world(replace(ATTACKED, attack="model_replacement(gamma=1, report_examples=777)"))
    federation = world.federation(users=world.init_users.clone())
    captured = {}
    finish = federation.finish_round

    def spy(plan, sent, weights, losses):
        captured["weights"], captured["clients"] = weights, plan.clients
        return finish(plan, sent, weights, losses)

    monkeypatch.setattr(federation, "finish_round", spy)
    federation.step(0)
    clients = captured["clients"]
    expected = np.where(world.malicious[clients], 777, world.population.n_train[clients])
    assert captured["weights"] == expected.astype(float).tolist()


def test_report_examples_is_validated_for_every_attack():
    for spec in (
        "label_flip(report_examples=3)",
        "alie(z=1, report_examples=3)",
        "sybil(report_examples=3)",
    ):
        assert ATTACKS.create(spec).report_examples == 3
    with pytest.raises(SpecError, match="report_examples must be <= 2147483647"):
        ATTACKS.create("label_flip(report_examples=99999999999)")


@pytest.mark.parametrize("n, m, k", [(500, 100, 50), (100, 20, 20), (60, 18, 10), (1000, 10, 100)])
def test_the_bound_is_the_hypergeometric_99_percent_quantile(n, m, k):
    f = tail_bound(n, m, k, BOUND_LEVEL)
    assert hypergeom.sf(f, n, m, k) <= 0.01 + 1e-12
    assert f == 0 or hypergeom.sf(f - 1, n, m, k) > 0.01


def test_the_bound_holds_under_the_engines_own_sampling():
    # The strategies' sampler, not only the formula: more than f arrive in <= 1 % of rounds.
    n, m, k = 100, 20, 20
    f = tail_bound(n, m, k, BOUND_LEVEL)
    rng = np.random.default_rng(0)
    over = np.mean([(sample_uniform(n, k, rng) < m).sum() > f for _ in range(20_000)])
    assert over <= 0.0125
    expected = AssumedF.of("expected", n, m, k).fixed
    assert np.mean([(sample_uniform(n, k, rng) < m).sum() > expected for _ in range(5_000)]) > 0.3


def test_modes_and_parsing():
    assert AssumedF.of("expected", 500, 100, 50).fixed == 10
    assert AssumedF.of("bound", 500, 100, 50).fixed == 17
    assert AssumedF.of(4, 500, 100, 50).for_round(9) == 4
    assert AssumedF.of("oracle", 500, 100, 50).for_round(9) == 9
    assert parse_assumed_f("7") == 7
    for bad in ("median", -1, 1.5, True):
        with pytest.raises(SpecError, match="assumed_f must be one of bound, expected, oracle"):
            parse_assumed_f(bad)
    assert tail_bound(10, 0, 5, Fraction(1, 100)) == 0


def test_the_default_hands_defenses_the_bound_and_records_it():
    scenario = replace(ATTACKED, malicious_fraction=0.2, clients_per_round=20)
    result = run_scenario(replace(scenario, defense="trimmed_mean"), compare_clean=False)
    world = build_world(scenario)
    bound = tail_bound(len(world.population), int(world.malicious.sum()), 20, BOUND_LEVEL)
    assert bound > round(0.2 * 20)
    assert result["threat_model"]["assumed_f"] == "bound"
    assert result["threat_model"]["assumed_f_at_setup"] == bound
    assert {r["assumed_f"] for r in result["rounds"]} == {bound}
    oracle = run_scenario(replace(ATTACKED, assumed_f="oracle"), compare_clean=False)
    assert [r["assumed_f"] for r in oracle["rounds"]] == [
        r["n_malicious_sampled"] for r in oracle["rounds"]
    ]


def test_a_round_whose_rows_cannot_meet_the_requirement_is_skipped_and_recorded():
    # The reproduction of the hardening issue: the guard rejects garbage, bulyan(f=1) then
    # has fewer rows than n >= 4f + 3.
    scenario = replace(
        TINY,
        attack="garbage",
        defense="bulyan(f=1)",
        malicious_fraction=0.45,
        rounds=4,
    )
    result = run_scenario(scenario, compare_clean=False)
    unmet = [r["requirement_unmet"] for r in result["rounds"]]
    assert any(unmet)
    assert all(r["skipped_step"] for r in result["rounds"] if r["requirement_unmet"])
    assert result["final"]["requirement_unmet_rounds"] == sum(unmet)


def test_detection_is_reported_only_where_an_attack_is_present():
    clean = run_scenario(replace(TINY, defense="krum"), compare_clean=False)["final"]
    scenario = replace(ATTACKED, defense="krum", clients_per_round=30)
    attacked = run_scenario(scenario, compare_clean=False)["final"]
    assert clean["detection_precision"] is None and clean["detection_auc"] is None
    assert attacked["detection_recall"] is not None and 0 <= attacked["detection_auc"] <= 1
