"""``kill -9`` of a running matrix at any moment loses no finished cell and corrupts nothing;
the rerun resumes, and the numbers equal an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fedarena.matrix.store import STORE_NAME, ResultStore, finite
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

KILLS = 3
STARTUP_LIMIT_S = 60.0


def _start(path: Path, out: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "fedarena.cli",
        "matrix",
        "--scenario",
        str(path),
        "--workers",
        "2",
    ]
    return subprocess.Popen(
        [*command, "--out", str(out), "--quiet"],
        start_new_session=True,  # its own process group: the whole matrix, workers included
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _done(store: Path) -> set[str]:
    if not store.exists():
        return set()
    with sqlite3.connect(store, timeout=30) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "cells" not in tables:  # the schema is not committed yet
            return set()
        return {row[0] for row in db.execute("SELECT key FROM cells WHERE status = 'done'")}


def _descendants(pid: int) -> set[int]:
    """The live processes started, directly or not, by ``pid`` (fork server, resource
    tracker, workers in their own process groups, jails in their own sessions)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie is dead)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_for_progress(store: Path, before: set[str], process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while len(_done(store) - before) < 1:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the matrix made no progress"
        time.sleep(0.02)


def _check_intact(store: Path, before: set[str]) -> set[str]:
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with ResultStore(store) as opened:
        records = opened.records()
    done = {r.key for r in records if r.status == "done"}
    assert before <= done, "a finished cell was lost"
    for record in records:
        assert record.status == "done", record.reason
        assert 0 <= record.result["final"]["ndcg@10"] <= 1
        assert len(record.result["rounds"]) == record.spec["rounds"]
    return done


def test_kill_minus_nine_repeatedly_then_resume(write_matrix, plugin, tmp_path):
    path = write_matrix(
        f'baselines = false\nseed = {list(range(12))}\ndefense = ["fedavg", "{plugin("Mean")}"]\n'
    )
    out = tmp_path / "out"
    store = out / STORE_NAME
    rng = np.random.default_rng(0)
    finished: set[str] = set()
    for kill in range(KILLS):
        process = _start(path, out)
        _wait_for_progress(store, finished, process)
        time.sleep(rng.uniform(0.0, 0.3))  # land anywhere: mid-cell, mid-commit, between cells
        pgid = os.getpgid(process.pid)
        if kill == 0:
            # The main process alone: its fork server, resource tracker, workers and jails
            # must not outlive it.
            started = _descendants(process.pid)
            assert started, "the matrix started no process"
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            deadline = time.monotonic() + 10
            while _alive(started) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(started), "processes outlived the killed matrix"
        else:
            os.killpg(pgid, signal.SIGKILL)
            process.wait()
        finished = _check_intact(store, finished)
    assert 0 < len(finished) < 24

    process = _start(path, out)
    assert process.wait(timeout=120) == 0, process.stderr.read().decode()
    assert len(_check_intact(store, finished)) == 24
    with ResultStore(store) as opened:
        last = opened.sessions()[-1]
        assert last["resumed"] == len(finished) and last["done"] == 24 - len(finished)
        sample = opened.records()[:: 24 // 2]
    for record in sample:  # resumed or not, a cell holds exactly what one run computes
        fresh = run_scenario(Scenario.from_dict(record.spec), compare_clean=False)
        assert finite(fresh["final"]) == record.result["final"]
