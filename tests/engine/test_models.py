"""The scenario's ``model`` field: FedMF and FedNCF run with every attack, defense and engine."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from fedarena.attacks import ATTACKS
from fedarena.errors import SpecError
from fedarena.model import SharedLayout
from fedarena.ncf import NeuralCF
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario
from tiny import TINY

MF = replace(TINY, model="mf", rounds=3)
FEDREC_MODELS = ["mf", "ncf"]
DEFENSES = [
    "fedavg",
    "krum(f=2)",
    "multi_krum(f=2)",
    "median",
    "trimmed_mean",
    "norm_clip",
    "bulyan(f=1)",
    "centered_clipping",
    "central_dp(noise_multiplier=0.1)",
    "dp_sgd(noise_multiplier=0.5)",
    "flame",
    "fltrust",
    "foolsgold",
    "geometric_median",
    "nnm(f=2) > median",
    "bucketing > median",
    "item_norm_clip > median(per_item=true)",
    "trimmed_mean(per_item=true)",
    "krum(f=2, per_item=true)",
    "flame(per_item=true)",
]


def test_the_model_is_in_the_spec_only_when_it_is_not_the_tower():
    assert "model" not in TINY.to_dict()
    assert MF.to_dict()["model"] == "mf"
    assert Scenario.from_dict(MF.to_dict()) == MF
    with pytest.raises(SpecError, match="model must be one of tower, mf, ncf, got 'gnn'"):
        replace(TINY, model="gnn")


def test_fedmf_sends_only_item_rows_and_learns():
    result = run_scenario(replace(MF, rounds=6), compare_clean=False)
    items = result["spec"]["items"]
    assert result["final"]["bytes_per_client_per_round"] == items * MF.dim * 4
    first, last = result["rounds"][0]["train_loss"], result["rounds"][-1]["train_loss"]
    assert last < first < math.log(2) + 1e-3  # BPR starts at log 2 (scores near 0)


def test_fedncf_sends_its_item_rows_and_layers_and_learns():
    result = run_scenario(replace(MF, model="ncf", rounds=6), compare_clean=False)
    layout = SharedLayout.of(NeuralCF(result["spec"]["items"], dim=MF.dim))
    assert result["final"]["bytes_per_client_per_round"] == layout.dim * 4
    first, last = result["rounds"][0]["train_loss"], result["rounds"][-1]["train_loss"]
    assert last < first


@pytest.mark.parametrize("model", FEDREC_MODELS)
@pytest.mark.parametrize("attack", [a for a in ATTACKS.names() if a != "none"])
def test_every_attack_runs_on_the_fedrec_models(attack, model):
    models = ATTACKS.factory(attack).models
    if models is not None and model not in models:
        pytest.skip(f"{attack} applies to {models} only")
    result = run_scenario(replace(MF, model=model, attack=attack, malicious_fraction=0.2))
    final = result["final"]
    assert all(math.isfinite(final[k]) for k in ("ndcg@10", "hr@10", "auc"))
    if result["attack"]["goal"] == "targeted":
        assert 0.0 <= final["er@10"] <= 1.0


@pytest.mark.parametrize("model", FEDREC_MODELS)
@pytest.mark.parametrize("defense", DEFENSES)
def test_every_defense_runs_on_the_fedrec_models(defense, model):
    scenario = replace(MF, model=model, attack="sybil", malicious_fraction=0.2, defense=defense)
    result = run_scenario(scenario, compare_clean=False)
    final = result["final"]
    assert all(math.isfinite(final[k]) for k in ("ndcg@10", "hr@10", "auc", "er@10"))


@pytest.mark.parametrize("model", FEDREC_MODELS)
@pytest.mark.parametrize("strategy", ["fedprox(mu=0.1)", "fedavg_plus(server_opt=adam)"])
def test_the_engines_agree_on_the_fedrec_models(strategy, model):
    scenario = replace(
        MF, model=model, strategy=strategy, attack="label_flip", malicious_fraction=0.2
    )
    fast = run_scenario(scenario, compare_clean=False)
    slow = run_scenario(replace(scenario, engine="sequential"), compare_clean=False)
    for key in ("ndcg@10", "hr@10", "auc"):
        assert fast["final"][key] == pytest.approx(slow["final"][key], abs=2e-3)
