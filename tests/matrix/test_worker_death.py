"""The runner survives any death of a worker (an exit without an outcome, a kill of the fork
server) and no process of a cell outlives it, jailed or forked: the cell fails with its
reason, the other cells run, and ``fedarena matrix`` exits 1 because a cell failed."""

from __future__ import annotations

import multiprocessing.forkserver
import random
import time
from pathlib import Path

import pytest

from fedarena.cli import main
from fedarena.matrix.store import ResultStore
from fedarena.sandbox import bwrap
from sandbox.hostile import sleeping

HOSTILE = Path(__file__).parents[1] / "sandbox" / "hostile.py"
SANDBOXES = [
    pytest.param(
        "bwrap",
        marks=pytest.mark.skipif(bwrap.executable() is None, reason="bwrap is not installed"),
    ),
    "process",
]


@pytest.fixture(params=SANDBOXES)
def sandbox(request, monkeypatch):
    """Run the cells jailed by bubblewrap, or forked with the process limits alone."""
    if request.param == "process":
        monkeypatch.setenv(bwrap.DISABLE_ENV, "1")
    return request.param


def _matrix(write_matrix, tmp_path, defense: str, timeout: float = 30) -> dict[str, object]:
    path = write_matrix(f'defense = ["{HOSTILE}:{defense}", "fedavg"]\n')
    out = tmp_path / "out"
    args = ["matrix", "--scenario", str(path), "--out", str(out), "--workers", "1"]
    code = main([*args, "--cell-timeout", str(timeout), "--quiet"])
    with ResultStore.in_folder(out) as store:
        rows = {r.spec["defense"].rpartition(":")[2]: r for r in store.records()}
    return {"code": code, "rows": rows}


def _gone(tag: float) -> bool:
    deadline = time.monotonic() + 5
    while sleeping(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not sleeping(tag)


def test_a_worker_that_forks_a_helper_and_exits_unreported_fails_its_cell_alone(
    write_matrix, tmp_path, sandbox
):
    tag = round(random.uniform(1000, 2000), 3)
    run = _matrix(write_matrix, tmp_path, f"ForksThenExits(tag={tag})")
    rows = run["rows"]
    assert run["code"] == 1
    assert rows["fedavg"].status == "done"
    failed = rows[f"ForksThenExits(tag={tag})"]
    assert failed.reason == "the worker process exited with status 3 before reporting"
    assert _gone(tag), "the helper the worker forked outlived its cell"


def test_a_process_left_behind_by_a_cell_is_killed_with_it(write_matrix, tmp_path, sandbox):
    tag = round(random.uniform(1000, 2000), 3)
    escape = sandbox == "bwrap"  # a new session leaves the process group: only a jail holds it
    spec = f"ForksGrandchild(escape={escape}, tag={tag})"
    run = _matrix(write_matrix, tmp_path, spec)
    assert run["code"] == 0
    assert {r.status for r in run["rows"].values()} == {"done"}
    assert _gone(tag), "a process forked by a cell outlived it"


def test_a_cell_that_kills_the_fork_server_fails_and_the_next_cells_get_a_fresh_one(
    write_matrix, tmp_path, monkeypatch
):
    monkeypatch.setenv(bwrap.DISABLE_ENV, "1")  # forked cells: the fork server is reachable
    path = write_matrix(f'defense = ["{HOSTILE}:KillsItsParent", "fedavg"]\nseed = [0, 1]\n')
    out = tmp_path / "out"
    args = ["matrix", "--scenario", str(path), "--out", str(out), "--workers", "1"]
    assert main([*args, "--cell-timeout", "30", "--quiet"]) == 1
    with ResultStore.in_folder(out) as store:
        records = sorted(store.records(), key=lambda r: r.finished_at)
    killers = [r for r in records if r.spec["defense"].endswith("KillsItsParent")]
    assert [r.status for r in killers] == ["failed", "failed"]
    assert all(r.reason.startswith("the worker process") for r in killers)
    assert [r.status for r in records if r not in killers] == ["done", "done"]
    assert records[-1] not in killers or records[0] not in killers  # a cell ran after one
    server = multiprocessing.forkserver._forkserver._forkserver_pid
    assert server is not None and Path(f"/proc/{server}").exists()


@pytest.mark.skipif(bwrap.executable() is None, reason="bwrap is not installed")
def test_a_jailed_cell_cannot_reach_the_fork_server(write_matrix, tmp_path):
    multiprocessing.forkserver.ensure_running()
    server = multiprocessing.forkserver._forkserver._forkserver_pid
    run = _matrix(write_matrix, tmp_path, "KillsItsParent", timeout=8)
    assert run["code"] == 1
    assert run["rows"]["KillsItsParent"].reason == "time limit of 8 s exceeded"
    assert run["rows"]["fedavg"].status == "done"
    assert multiprocessing.forkserver._forkserver._forkserver_pid == server
