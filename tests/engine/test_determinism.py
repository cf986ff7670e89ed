"""A run is a pure function of its scenario and seed: bit-identical at any torch thread count,
and ``fedarena run`` equals the matrix cell of the same scenario."""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from fedarena.cli import main
from fedarena.matrix.store import ResultStore
from fedarena.scenario.run import run_scenario
from tiny import TINY, flags, toml

SCENARIO = replace(
    TINY, rounds=3, malicious_fraction=0.2, attack="model_replacement", clients_per_round=20
)


def test_a_run_computes_with_one_thread_and_restores_the_callers():
    threads = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = run_scenario(SCENARIO, on_round=lambda r: threads.append(torch.get_num_threads()))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    one = run_scenario(SCENARIO)
    assert threads == [1] * SCENARIO.rounds
    assert two["final"] == one["final"]
    assert _untimed(two["rounds"]) == _untimed(one["rounds"])


def _untimed(rounds: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rounds]


def test_fedarena_run_equals_the_matrix_cell(tmp_path):
    matrix = tmp_path / "one.toml"
    matrix.write_text(toml(SCENARIO))
    out = tmp_path / "matrix"
    assert main(["matrix", "--scenario", str(matrix), "--out", str(out), "--quiet"]) == 0
    with ResultStore.in_folder(out) as store:
        (cell,) = [r for r in store.records() if r.spec["attack"] == "model_replacement"]
    assert main(["run", *flags(SCENARIO), "--out", str(tmp_path / "run.json")]) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert cell.result["final"] == run["final"]
    assert _untimed(cell.result["rounds"]) == _untimed(run["rounds"])
