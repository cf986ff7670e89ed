"""Every registered attack runs through a whole small scenario and declares itself."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from fedarena.attacks import ATTACKS
from fedarena.attacks.base import GOALS, KNOWLEDGE, WHERE
from fedarena.registry import ComponentSpec
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario
from tiny import TINY

ATTACK_NAMES = [name for name in ATTACKS.names() if name != "none"]


def _tiny(attack: str, fraction: float = 0.2, seed: int = 0) -> Scenario:
    """TINY under ``attack``, with the first model the attack applies to."""
    models = getattr(ATTACKS.factory(ComponentSpec.parse(attack).name), "models", None)
    return replace(
        TINY,
        rounds=3,
        local_epochs=3,
        attack=attack,
        malicious_fraction=fraction,
        seed=seed,
        model=TINY.model if models is None else models[0],
    )


def test_the_issue_attacks_are_registered():
    expected = {"label_flip", "model_replacement", "sybil", "sign_flip", "gaussian"}
    expected |= {"alie", "ipm", "min_max", "min_sum", "garbage", "fedrecattack"}
    assert expected <= set(ATTACK_NAMES)


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_runs_end_to_end_with_its_metrics(name):
    result = run_scenario(_tiny(name))
    attack = result["attack"]
    assert set(attack["acts_on"]) <= set(WHERE) and attack["acts_on"]
    assert attack["knowledge"] in KNOWLEDGE and attack["goal"] in GOALS[1:]
    final = result["final"]
    assert all(math.isfinite(final[k]) for k in ("ndcg@10", "hr@10", "auc"))
    assert result["population"]["malicious"] > 0
    if attack["goal"] == "targeted":
        assert len(attack["target_items"]) >= 1
        assert 0.0 <= final["er@10"] <= 1.0 and final["target_rank"] >= 0
    else:
        assert {"ndcg@10_drop", "hr@10_drop", "auc_drop"} <= set(final)
        assert result["clean"]["ndcg@10"] - final["ndcg@10"] == pytest.approx(final["ndcg@10_drop"])


def test_sybils_join_the_federation_but_not_the_metrics():
    result = run_scenario(_tiny("sybil(identities=12)", fraction=0.0))
    population = result["population"]
    real = 60 - population["excluded_without_test_purchase"]
    assert population["malicious"] == 12 and population["shoppers"] == real + 12
    assert sum(r["n_malicious_sampled"] for r in result["rounds"]) > 0


def test_same_seed_same_malicious_set_and_numbers():
    a = run_scenario(_tiny("model_replacement", seed=3), compare_clean=False)
    b = run_scenario(_tiny("model_replacement", seed=3), compare_clean=False)
    assert a["final"] == b["final"] and a["attack"] == b["attack"]
    assert [r["n_malicious_sampled"] for r in a["rounds"]] == [
        r["n_malicious_sampled"] for r in b["rounds"]
    ]


def test_without_malicious_shoppers_a_targeted_attack_is_the_clean_run():
    clean = run_scenario(_tiny("none", fraction=0.0), compare_clean=False)
    idle = run_scenario(_tiny("model_replacement", fraction=0.0), compare_clean=False)
    for key in ("ndcg@10", "hr@10", "auc"):
        assert idle["final"][key] == clean["final"][key]
    assert np.isfinite(idle["final"]["er@10"])


@pytest.mark.parametrize(
    "spec",
    [
        "label_flip(ratio=half)",
        "sign_flip(scale=True)",
        "gaussian(std=[1])",
        "ipm(epsilon=big)",
        "alie(z=high)",
        "min_max(tau=small)",
        "sybil(coordination=full)",
    ],
)
def test_an_option_that_is_not_a_number_is_named(spec):
    from fedarena.errors import SpecError

    name = spec[spec.index("(") + 1 : spec.index("=")]
    with pytest.raises(SpecError, match=f"{name} must be a number, got"):
        ATTACKS.create(spec)
