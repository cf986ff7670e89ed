"""The Python API: the same numbers as the CLI's engine, results as a DataFrame, defenses
called by hand on tensors, arrays and lists as ByzFL's aggregators are."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import fedarena
from fedarena.defenses.krum import Krum
from fedarena.errors import SpecError
from fedarena.oracles import import_byzfl
from fedarena.scenario.run import run_scenario
from tiny import TINY


def test_run_from_keywords_a_dict_or_a_scenario_gives_the_engine_s_numbers():
    expected = run_scenario(TINY)["final"]
    fields = TINY.to_dict()
    assert fedarena.run(**fields)["final"] == expected
    assert fedarena.run(fields)["final"] == expected
    assert fedarena.run(TINY, seed=TINY.seed)["final"] == expected


def test_a_bad_field_is_one_line_naming_it():
    with pytest.raises(SpecError, match="rounds must be in"):
        fedarena.run(TINY, rounds=0)
    with pytest.raises(SpecError, match="unknown"):
        fedarena.run(TINY, roundz=3)
    with pytest.raises(SpecError, match="a scenario must be a fedarena Scenario or a dict"):
        fedarena.run(["rounds", 3])


def test_frame_has_one_row_per_result_with_spec_and_metrics():
    results = [fedarena.run(TINY, seed=seed) for seed in (0, 1)]
    table = fedarena.frame(results)
    assert list(table["seed"]) == [0, 1]
    assert table.loc[1, "ndcg@10"] == results[1]["final"]["ndcg@10"]
    assert {"defense", "attack", "hr@10", "auc"} <= set(table.columns)


def test_import_fedarena_stays_light():
    code = "import sys, fedarena; print('torch' in sys.modules, fedarena.__version__ != '')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


VECTORS = [[0.0, 1.0, 2.0], [0.5, 1.5, 2.5], [0.2, 0.9, 2.1], [40.0, -30.0, 9.0], [0.1, 1.2, 1.9]]


@pytest.mark.parametrize("kind", [torch.tensor, np.array, list])
def test_a_defense_is_callable_on_tensors_arrays_and_lists(kind):
    vectors = kind(VECTORS)
    by_call = Krum()(vectors, f=1)
    by_spec = fedarena.aggregate("krum", vectors, f=1)
    assert type(by_call) is type(vectors) and type(by_spec) is type(vectors)
    assert np.allclose(np.asarray(by_call), [0.0, 1.0, 2.0])  # closest to its 2 neighbours
    assert np.allclose(np.asarray(by_spec), np.asarray(by_call))


def test_chains_and_weights_by_hand():
    weighted = fedarena.aggregate("fedavg", [[0.0], [3.0]], weights=[2.0, 1.0])
    assert weighted == pytest.approx([1.0])
    chain = fedarena.aggregate(
        "norm_clip(max_norm=1) > median", [[3.0, 4.0], [0.0, 0.5], [0.3, 0.4]]
    )
    assert chain == pytest.approx([0.3, 0.5])
    with pytest.raises(ValueError, match="weights must hold one number per vector"):
        Krum()(VECTORS, weights=[1.0, 2.0], f=1)


@pytest.mark.parametrize("name", ["Krum", "TrMean", "Median"])
def test_by_hand_calls_agree_with_byzfl(name):
    byzfl = import_byzfl()
    if byzfl is None:
        pytest.skip("byzfl is not installed (make test installs it)")
    vectors = np.random.default_rng(0).normal(size=(11, 20))
    ours = {"Krum": "krum", "TrMean": "trimmed_mean(f=2)", "Median": "median"}[name]
    theirs = getattr(byzfl, name)(**({} if name == "Median" else {"f": 2}))(vectors)
    assert np.allclose(fedarena.aggregate(ours, vectors, f=2), theirs, atol=1e-5)


def test_matrix_of_scenarios_runs_them_and_their_twins_in_workers(tmp_path):
    krum = replace(TINY, defense="krum", rounds=1)
    table = fedarena.run_matrix([krum, replace(krum, seed=1)], out=tmp_path / "m", workers=1)
    assert set(table["status"]) == {"done"}
    assert set(table["defense"]) == {"krum", "fedavg"}  # the cells and their references
    mine = table[(table["defense"] == "krum") & (table["seed"] == 0)]
    expected = run_scenario(krum, compare_clean=False)["final"]["ndcg@10"]
    assert mine["ndcg@10"].item() == expected


def test_matrix_of_a_dict_in_the_file_s_shape_and_its_errors(tmp_path):
    axes = TINY.to_dict() | {"rounds": 1, "defense": ["fedavg", "median"]}
    table = fedarena.run_matrix(axes, out=tmp_path / "m", workers=1)
    assert sorted(table["defense"]) == ["fedavg", "median"]
    with pytest.raises(SpecError, match="defense 'krum': f must be an integer >= 0"):
        fedarena.run_matrix(axes | {"defense": ["krum(f=-1)"]}, out=tmp_path / "bad")
    with pytest.raises(SpecError, match="a list of scenarios"):
        fedarena.run_matrix(42, out=tmp_path / "bad")


def test_the_documented_example_runs(tmp_path, monkeypatch):
    page = (Path(__file__).parents[1] / "docs" / "python-api.md").read_text()
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "docs/python-api.md", "exec"), namespace)
    assert set(namespace["table"]["status"]) == {"done"}
    assert sorted(set(namespace["table"]["defense"])) == ["fedavg", "krum"]


def test_a_plain_script_without_a_main_guard_runs_once(tmp_path):
    """multiprocessing would rerun an unguarded script in every worker; fedarena's don't."""
    script = tmp_path / "script.py"
    fields = TINY.to_dict() | {"rounds": 1}
    script.write_text(
        "import fedarena\n"
        "print('top level', flush=True)\n"
        f"table = fedarena.run_matrix({fields!r}, out='out', workers=1)\n"
        "print(sorted(set(table['status'])))\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["top level", "['done']"]
