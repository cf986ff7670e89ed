"""Defenses inside whole (tiny) runs: chains, the root set, DP's epsilon, determinism."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from fedarena.scenario.run import run_scenario
from tiny import TINY

SCENARIO = replace(TINY, items=200, malicious_fraction=0.1)


@pytest.mark.parametrize(
    "defense",
    [
        "norm_clip(max_norm=2) > krum",
        "bucketing(s=2) > bulyan(f=0)",
        "fltrust(root_shoppers=3)",
        "foolsgold",
        "flame",
        "nnm > centered_clipping",
    ],
)
def test_runs_and_reports_detection(defense):
    final = run_scenario(replace(SCENARIO, defense=defense), compare_clean=False)["final"]
    assert math.isfinite(final["ndcg@10"])
    assert "detection_precision" in final and "detection_recall" in final


@pytest.mark.parametrize(
    "defense", ["dp_sgd(noise_multiplier=1.0) > trimmed_mean", "central_dp(noise_multiplier=1.0)"]
)
def test_dp_runs_report_epsilon_and_are_deterministic(defense):
    first = run_scenario(replace(SCENARIO, defense=defense), compare_clean=False)["final"]
    again = run_scenario(replace(SCENARIO, defense=defense), compare_clean=False)["final"]
    assert 0 < first["epsilon_shopper"] < math.inf and 0 < first["delta"] < 1
    assert first == again
