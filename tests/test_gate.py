"""``fedarena check``: the baseline's tolerance bands (by hand from the documented formula),
the comparison, and the gate end to end on a tiny matrix."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from fedarena.cli import main
from fedarena.gate import CHANGE, IMPROVEMENT, REGRESSION, build_baseline, compare
from fedarena.matrix.cell import Cell
from fedarena.matrix.store import CellRecord
from fedarena.scenario.spec import Scenario
from tiny import TINY, toml

DRIFTING = Path(__file__).with_name("gate_plugins.py")


def record(defense: str, seed: int, ndcg: float | None, er: float | None = None, **kw):
    """A done cell with the given final metrics (``ndcg=None``: a failed cell)."""
    cell = Cell.of(Scenario(defense=defense, seed=seed, rounds=2, **kw))
    final = {"ndcg@10": ndcg, "hr@10": 0.5, "auc": 0.75}
    if er is not None:
        final["er@10"] = er
    return CellRecord(
        key=cell.key,
        family=cell.family,
        version=cell.version,
        seed=seed,
        spec=cell.scenario.to_dict(),
        status="done" if ndcg is not None else "failed",
        wall_s=1.0,
        finished_at="2026-01-01T00:00:00+00:00",
        reason=None if ndcg is not None else "RuntimeError: broken",
        result={"final": final} if ndcg is not None else None,
    )


def runs() -> list[CellRecord]:
    """Family median: NDCG@10 0.20, 0.22, 0.24 (s = 0.02); family krum: 0.3 three times;
    pooled S = sqrt((0.02^2 + 0^2) / 2) = 0.0141."""
    return [record("median", s, 0.20 + 0.02 * s) for s in range(3)] + [
        record("krum", s, 0.3) for s in range(3)
    ]


def bands(baseline) -> dict[str, dict[str, float]]:
    return {f["spec"]["defense"]: f["band"] for f in baseline["families"]}


def test_bands_follow_the_documented_formula():
    baseline = build_baseline(runs(), Path("m.toml"), "text", ["m"])
    pooled = math.sqrt((0.02**2 + 0.0**2) / 2)
    assert baseline["pooled_spread"]["ndcg@10"] == pytest.approx(pooled)
    assert bands(baseline)["median"]["ndcg@10"] == pytest.approx(0.02)  # z = 1 own spread
    assert bands(baseline)["krum"]["ndcg@10"] == pytest.approx(pooled / 2)  # c = 1/2 pooled
    # AUC is 0.75 everywhere: no spread, so the relative floor 1e-4 * max(1, 0.75)
    assert bands(baseline)["krum"]["auc"] == pytest.approx(1e-4)
    assert baseline["families"][0]["cells"]["1"] == {
        "status": "done",
        "metrics": {"ndcg@10": pytest.approx(0.3), "hr@10": 0.5, "auc": 0.75},
    }


def test_an_identical_rerun_passes_and_counts_as_identical():
    baseline = json.loads(json.dumps(build_baseline(runs(), Path("m.toml"), "t", ["m"])))
    comparison = compare(baseline, runs())
    assert comparison.passed and comparison.cells == comparison.identical == 6


def test_a_metric_outside_its_band_is_a_row_with_both_values_and_the_band():
    baseline = build_baseline(runs(), Path("m.toml"), "t", ["m"])
    rerun = runs()
    rerun[1] = record("median", 1, 0.22 + 0.019)  # within s = 0.02
    rerun[4] = record("krum", 1, 0.3 - 0.008)  # beyond half the pooled 0.0141
    comparison = compare(baseline, rerun)
    assert (comparison.identical, comparison.within, comparison.outside) == (4, 1, 1)
    (row,) = comparison.deviations
    assert row.cell == "none | krum | fedavg | f=0 | seed 1"
    assert (row.metric, row.baseline, row.now, row.band) == ("ndcg@10", "0.3", "0.292", "±0.00707")


def test_status_changes_and_missing_or_new_cells_are_rows():
    baseline = build_baseline(runs(), Path("m.toml"), "t", ["m"])
    rerun = runs()
    rerun[0] = record("median", 0, None)
    del rerun[5]
    rerun.append(record("median", 3, 0.2))
    rows = {(d.cell, d.metric): (d.baseline, d.now) for d in compare(baseline, rerun).deviations}
    assert rows == {
        ("none | median | fedavg | f=0 | seed 0", "status"): (
            "done",
            "failed (RuntimeError: broken)",
        ),
        ("none | krum | fedavg | f=0 | seed 2", "cell"): ("done", "not run"),
        ("none | median | fedavg | f=0 | seed 3", "cell"): ("absent", "new"),
    }


def test_a_metric_that_appears_or_vanishes_is_a_row():
    targeted = [record("krum", s, 0.3, er=0.1 * s, attack="model_replacement") for s in range(3)]
    baseline = build_baseline(targeted, Path("m.toml"), "t", ["m"])
    rerun = [*targeted[:2], replace(targeted[2], result={"final": {"ndcg@10": 0.3}})]
    rows = [(d.metric, d.baseline, d.now) for d in compare(baseline, rerun).deviations]
    assert ("er@10", "0.2", "-") in rows


def test_each_row_says_which_way_its_metric_moved():
    """Issue #16: improvements were reported as regressions. Utility should go up; attack
    success (ER@10) down."""
    targeted = [record("krum", s, 0.3, er=0.2, attack="model_replacement") for s in range(3)]
    baseline = build_baseline([*runs(), *targeted], Path("m.toml"), "t", ["m"])
    rerun = [*runs(), *targeted]
    rerun[0] = record("median", 0, 0.20 - 0.1)  # utility down: a regression
    rerun[1] = record("median", 1, 0.22 + 0.1)  # utility up: an improvement
    rerun[6] = record("krum", 0, 0.3, er=0.9, attack="model_replacement")  # attack succeeds more
    rerun[7] = record("krum", 1, 0.3, er=0.0, attack="model_replacement")  # attack stopped
    rerun[8] = record("krum", 2, None, attack="model_replacement")  # a cell that now fails
    comparison = compare(baseline, rerun)
    rows = {(d.cell, d.metric): (d.kind, d.moved) for d in comparison.deviations}
    median, krum = "none | median | fedavg | f=0 | seed", "model_replacement | krum | fedavg"
    assert rows == {
        (f"{median} 0", "ndcg@10"): (REGRESSION, "-0.1"),
        (f"{median} 1", "ndcg@10"): (IMPROVEMENT, "+0.1"),
        (f"{krum} | f=0 | seed 0", "er@10"): (REGRESSION, "+0.7"),
        (f"{krum} | f=0 | seed 1", "er@10"): (IMPROVEMENT, "-0.2"),
        (f"{krum} | f=0 | seed 2", "status"): (REGRESSION, "-"),
    }
    assert sorted(d.metric for d in comparison.rows(IMPROVEMENT)) == ["er@10", "ndcg@10"]
    assert comparison.cells_by_kind() == {REGRESSION: 3, IMPROVEMENT: 2, CHANGE: 0}


def test_a_run_with_failed_cells_cannot_become_a_baseline():
    with pytest.raises(Exception, match=r"1 cell\(s\) failed, so this run cannot be a baseline"):
        build_baseline([*runs(), record("bulyan", 0, None)], Path("m.toml"), "t", ["m"])


@pytest.fixture()
def gate(tmp_path):
    """A tiny matrix with a defense whose scale is read from a file, and a check command.

    The file lies in the plugin's own folder: a plugin cell runs in a jail that reads no
    other folder (docs/matrix.md)."""
    plugin = tmp_path / DRIFTING.name
    shutil.copy(DRIFTING, plugin)
    scale = tmp_path / "scale.txt"
    scale.write_text("1.0")
    matrix = tmp_path / "gate.toml"
    defense = f"{plugin}:ScaledMean(path={str(scale)!r})"
    matrix.write_text(
        toml(replace(TINY, rounds=3, baselines=True))
        + "seed = [0, 1, 2]\nmalicious_fraction = 0.2\n"
        f'attack = ["none", "model_replacement"]\ndefense = ["fedavg", {json.dumps(defense)}]\n'
    )
    baseline = tmp_path / "baseline.json"
    command = ["check", "--baseline", str(baseline), "--scenario", str(matrix), "--workers", "2"]
    return scale, baseline, [*command, "--quiet"]


def test_the_gate_passes_a_rerun_and_fails_a_changed_defense(gate, capsys):
    scale, baseline, command = gate
    assert main([*command, "--update-baseline"]) == 0
    written = json.loads(baseline.read_text())
    assert written["cells"] == 12 and len(written["families"]) == 4
    assert main(command) == 0
    assert "check passed: 12 cells: 12 identical to the baseline" in capsys.readouterr().out

    scale.write_text("-3.0")  # same spec, different behaviour
    assert main(command) == 1
    out = capsys.readouterr().out
    unfolded = re.sub(r"[\s│┃]", "", out)  # the table folds long cells across lines
    assert "Regressions (utility down" in out and "ScaledMean" in unfolded and "ndcg@10" in out
    assert "check failed: 12 cells: 6 identical to the baseline" in out
    assert "rerun with --update-baseline" in out


def test_the_gate_needs_a_baseline(tmp_path, capsys):
    assert main(["check", "--baseline", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"fedarena: error: --baseline: {tmp_path / 'none.json'} does not exist; create it with "
        "--update-baseline\n"
    )


def _tables(out: str) -> dict[str, list[list[str]]]:
    """The report's tables by the first word of their title, as rows of cells."""
    tables: dict[str, list[list[str]]] = {}
    rows: list[list[str]] = []
    for line in out.splitlines():
        title = re.match(r"\s*(Regressions|Improvements|Other changes) \(", line)
        if title:
            rows = tables.setdefault(title.group(1), [])
        elif line.count("│") == 7:
            rows.append([c.strip() for c in line.split("│")[1:-1]])
    return tables


def test_the_report_separates_regressions_from_improvements(tmp_path, capsys, monkeypatch):
    """Issue #16 as a user meets it: a baseline, then a check whose cells are worse than it
    in one metric and better in another; each row is listed under its own heading, with the
    signed change. ER@10 (attack success) should go down, NDCG@10 up."""
    monkeypatch.setenv("COLUMNS", "250")  # one line a row
    matrix = tmp_path / "gate.toml"
    matrix.write_text(
        toml(TINY) + 'seed = [0, 1]\nmalicious_fraction = 0.2\nattack = "model_replacement"\n'
    )
    baseline = tmp_path / "baseline.json"
    command = ["check", "--baseline", str(baseline), "--scenario", str(matrix), "--quiet"]
    command += ["--out", str(tmp_path / "cells")]  # the check below resumes these cells
    assert main([*command, "--update-baseline"]) == 0
    written = json.loads(baseline.read_text())
    (family,) = [f for f in written["families"] if f["spec"]["attack"] != "none"]
    family["cells"]["0"]["metrics"]["ndcg@10"] += 0.5  # the rerun is 0.5 below: a regression
    family["cells"]["1"]["metrics"]["ndcg@10"] -= 0.5  # 0.5 above: an improvement
    family["cells"]["1"]["metrics"]["er@10"] -= 0.5  # ER@10 0.5 above: a regression
    baseline.write_text(json.dumps(written))
    capsys.readouterr()
    assert main(command) == 1
    out = capsys.readouterr().out
    tables = _tables(out)
    assert set(tables) == {"Regressions", "Improvements"}, out
    moved = {k: [(row[0][-6:], row[1], row[4]) for row in rows] for k, rows in tables.items()}
    assert moved == {
        "Regressions": [("seed 0", "ndcg@10", "-0.5"), ("seed 1", "er@10", "+0.5")],
        "Improvements": [("seed 1", "ndcg@10", "+0.5")],
    }
    assert "2 outside (2 with a regression, 0 with improvements only, 0 with other changes)" in out
