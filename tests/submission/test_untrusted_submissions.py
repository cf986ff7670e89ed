"""Submitted code runs in limited processes: a defense that raises, hangs, exhausts memory
or kills its process fails its conformance check or its cells with the reason, and the
submission (and the process that runs it) goes on."""

from __future__ import annotations

import json
import time

import pytest

from fedarena.cli import main
from fedarena.sandbox import bwrap
from fedarena.sandbox.limits import Limits
from fedarena.submission.conformance import NOT_RUN, check_conformance

TIME_LIMIT_S = 3.0
MEMORY_MB = 1536
LIMITS = Limits(seconds=TIME_LIMIT_S, memory_mb=MEMORY_MB)
STARTUP_S = 10.0  # a fresh jailed interpreter importing torch, on a loaded machine
CELL_TIMEOUT_S = 10  # a cell's first run, beside a jail importing torch on a loaded machine


@pytest.mark.parametrize(
    "name, reason",
    [
        ("Raises", "aggregate raised RuntimeError: this defense always fails on 20 finite updates"),
        ("Hangs", f"time limit of {TIME_LIMIT_S:g} s exceeded"),
        ("Hogs", f"memory limit of {MEMORY_MB} MiB exceeded ("),
        ("Dies", "the worker process was killed by SIGKILL"),
    ],
)
def test_a_defense_that_breaks_its_process_fails_the_interface_check(misbehaving, name, reason):
    start = time.monotonic()
    report = check_conformance(misbehaving(name), LIMITS)
    first, *rest = report.results
    assert (first.name, first.status) == ("interface", "FAIL")
    assert first.detail.startswith(reason)
    assert [r.status for r in rest] == [NOT_RUN] * 5 and not report.passed
    assert time.monotonic() - start < TIME_LIMIT_S + STARTUP_S


def test_submit_stops_after_failed_checks_without_running_cells(
    misbehaving, tiny_matrix, tmp_path, capsys
):
    entry = tmp_path / "entry.json"
    out = tmp_path / "results"
    args = ["submit", misbehaving("Hangs"), "--scenario", str(tiny_matrix()), "--out", str(out)]
    code = main([*args, "--entry", str(entry), "--check-timeout", "2", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAIL    interface: time limit of 2 s exceeded" in printed
    assert printed.count("not run") == 5
    assert "1 check(s) failed: nothing was run and no entry written" in printed
    assert not entry.exists() and not out.exists()


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("raise", "RuntimeError: round 1 breaks this defense"),
        ("hang", f"time limit of {CELL_TIMEOUT_S:g} s exceeded"),
        ("hog", f"memory limit of {MEMORY_MB} MiB exceeded ("),
    ],
)
def test_a_defense_that_misbehaves_only_in_the_matrix_fails_its_cells(
    defect, tiny_matrix, tmp_path, capsys, mode, reason
):
    spec = defect(f"LateFailure(mode={mode!r})")
    entry = tmp_path / "entry.json"
    code = main(
        [
            "submit",
            spec,
            "--scenario",
            str(tiny_matrix('attack = ["none", "label_flip"]\nmalicious_fraction = 0.2\n')),
            "--out",
            str(tmp_path / "results"),
            "--entry",
            str(entry),
            "--cell-timeout",
            str(CELL_TIMEOUT_S),
            "--cell-memory",
            str(MEMORY_MB),
            "--workers",
            "2",
            "--quiet",
        ]
    )
    assert code == 1
    assert "entry written to" in capsys.readouterr().out
    document = json.loads(entry.read_text())
    cells = {(c["spec"]["attack"], c["spec"]["defense"]): c for c in document["cells"]}
    assert set(cells) == {
        ("none", "fedavg"),
        ("label_flip", "fedavg"),
        ("none", spec),
        ("label_flip", spec),
    }
    for attack in ("none", "label_flip"):
        assert cells[attack, "fedavg"]["status"] == "done", cells[attack, "fedavg"]["reason"]
        assert cells[attack, spec]["status"] == "failed"
        assert cells[attack, spec]["reason"].startswith(reason)
    assert document["manifest"]["counts"] == {"done": 2, "failed": 2, "skipped": 0}
    assert document["manifest"]["conformance"]["passed"] is True


@pytest.mark.skipif(bwrap.executable() is None, reason="bubblewrap (bwrap) is not installed")
def test_the_checks_run_in_one_jail_that_cannot_read_the_host(defect, capsys):
    report = check_conformance(defect("Conforming"), LIMITS, budget_s=30.0)
    assert report.passed, report.failures
    assert list(report.sources) == ["tests/submission/defects.py"]
    assert bwrap.NOTICE not in capsys.readouterr().err


def test_without_bubblewrap_the_checks_run_forked_after_a_notice(defect, monkeypatch, capsys):
    monkeypatch.setenv(bwrap.DISABLE_ENV, "1")
    monkeypatch.setattr(bwrap, "_noticed", False)
    report = check_conformance(defect("Conforming"), LIMITS, budget_s=30.0)
    assert report.passed, report.failures
    assert capsys.readouterr().err.strip() == bwrap.NOTICE
