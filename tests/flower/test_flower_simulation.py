"""The engine ``flower``: a scenario through Flower's simulation runtime (Ray) equals in-process.

Slow: Ray's start costs 10-15 s. Ray's and Flower's files go to a temporary folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from fedarena.metrics import METRIC_KEYS
from fedarena.scenario.run import run_scenario
from tiny import TINY

pytestmark = pytest.mark.slow

SCENARIO = replace(TINY, seed=3, rounds=3, attack="flower_fakes:ScaledFlip", malicious_fraction=0.1)


@pytest.fixture()
def flower_files(tmp_path, monkeypatch):
    """Flower's and Ray's files in temporary folders; Ray's short enough for its sockets."""
    ray = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    monkeypatch.setenv("RAY_TMPDIR", str(ray))
    for name in ("FLWR_HOME", "XDG_CACHE_HOME"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.delenv("FLWR_LOG_LEVEL", raising=False)
    yield
    shutil.rmtree(ray, ignore_errors=True)


def test_flower_simulation_equals_the_in_process_engine_and_stays_quiet(flower_files, capfd):
    rounds = []
    # One Flower run (each costs a SuperLink and Ray): the clean twin is the same code path.
    flower = run_scenario(
        replace(SCENARIO, engine="flower"), on_round=rounds.append, compare_clean=False
    )
    out, err = capfd.readouterr()
    in_process = run_scenario(SCENARIO, compare_clean=False)
    for key in METRIC_KEYS:
        assert flower["final"][key] == pytest.approx(in_process["final"][key], abs=1e-6)
    assert [r.round for r in rounds] == [0, 1, 2]
    assert [r["flagged"] for r in flower["rounds"]] == [r["flagged"] for r in in_process["rounds"]]
    assert sum(r["n_malicious_sampled"] for r in flower["rounds"]) > 0
    assert "INFO" not in out + err and "\x1b[" not in out + err


def test_a_bad_scenario_fails_before_ray_starts(flower_files):
    from fedarena.errors import SpecError
    from fedarena.flower.simulation import simulate

    with pytest.raises(SpecError, match="unknown attack 'nope'"):
        simulate(replace(SCENARIO, attack="nope"))


def test_fedarena_run_engine_flower_writes_the_in_process_result(flower_files, tmp_path):
    from fedarena.cli import main

    out = tmp_path / "run.json"
    args = ["--rounds", "2", "--shoppers", "40", "--clients-per-round", "4", "--items", "300"]
    args += ["--dim", "8", "--no-baselines", "--quiet", "--seed", "5"]
    assert main(["run", *args, "--engine", "flower", "--out", str(out)]) == 0
    flower = json.loads(out.read_text())
    assert main(["run", *args, "--out", str(tmp_path / "v.json")]) == 0
    in_process = json.loads((tmp_path / "v.json").read_text())
    assert flower["spec"]["engine"] == "flower"
    for key in METRIC_KEYS:
        assert flower["final"][key] == pytest.approx(in_process["final"][key], abs=1e-6)
