"""``fedarena matrix --backend ray``: cell for cell the local backend's results, on a Ray started
for the run and on a real two-node cluster that loses a node mid-run."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from fedarena.cli import main
from fedarena.matrix.local_cluster import LocalCluster, processes
from fedarena.matrix.store import STORE_NAME, ResultStore
from tiny import TINY, toml

# 16 cells of 25 rounds (about a second each): long enough that the second node, whose Ray
# worker starts seconds after the head's, takes a cell before the head has run them all (at 4
# rounds, with baselines cached per world, the head sometimes finished all 16 first); the 156
# smoke cells would take minutes on 2 shared cores.
BODY = """
seed = [0, 1, 2, 3]
attack = ["none", "label_flip"]
defense = ["fedavg", "krum"]
"""
CELLS = 16
RUN_LIMIT_S = 120.0


def _matrix(path: Path, out: Path, *extra: str) -> list[str]:
    return ["matrix", "--scenario", str(path), "--out", str(out), "--quiet", *extra]


def _results(out: Path) -> dict[str, tuple[str, dict]]:
    """Each stored cell's status and final metrics, by key."""
    with ResultStore.in_folder(out) as store:
        return {r.key: (r.status, r.result["final"]) for r in store.records()}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The matrix file and the local backend's results, run once for the module's tests."""
    folder = tmp_path_factory.mktemp("local")
    path = folder / "m.toml"
    path.write_text(toml(replace(TINY, rounds=25, baselines=True)) + BODY)
    assert main(_matrix(path, folder / "out", "--workers", "2")) == 0
    results = _results(folder / "out")
    assert len(results) == CELLS and {s for s, _ in results.values()} == {"done"}
    return path, results


def test_a_local_ray_gives_the_local_backends_results(local, tmp_path):
    path, expected = local
    out = tmp_path / "ray"
    extra = ("--backend", "ray", "--workers", "2", "--cell-memory", "1024")
    assert main(_matrix(path, out, *extra)) == 0
    assert _results(out) == expected


def test_a_cell_past_its_time_limit_fails_with_the_local_reason(write_matrix, tmp_path):
    out = tmp_path / "o"
    extra = ("--backend", "ray", "--workers", "1", "--cell-memory", "1024", "--cell-timeout", "0.5")
    assert main(_matrix(write_matrix("seed = [0, 1]\n"), out, *extra)) == 1
    with ResultStore.in_folder(out) as store:
        reasons = [(r.status, r.reason) for r in store.records()]
    assert reasons == [("failed", "time limit of 0.5 s exceeded")] * 2


def test_a_memory_request_no_node_offers_is_refused_in_one_line(write_matrix, tmp_path, capsys):
    extra = ("--backend", "ray", "--workers", "1", "--cell-memory", str(2**30))
    assert main(_matrix(write_matrix(""), tmp_path / "o", *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is more than any Ray node offers" in err, err


def test_plugin_cells_are_refused_in_one_line(write_matrix, plugin, tmp_path, capsys):
    path = write_matrix(f'defense = "{plugin("Raises")}"\n')
    assert main(_matrix(path, tmp_path / "o", "--backend", "ray")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs plugin code" in err and "without --backend ray" in err
    assert not (tmp_path / "o" / STORE_NAME).exists()


def test_address_needs_the_ray_backend(write_matrix, tmp_path, capsys):
    assert main(_matrix(write_matrix(""), tmp_path / "o", "--address", "auto")) == 2
    assert "--address: only with --backend ray" in capsys.readouterr().err


def test_the_local_backend_never_imports_ray(write_matrix, tmp_path):
    code = (
        "import sys; from fedarena.cli import main; "
        f"assert main({_matrix(write_matrix(''), tmp_path / 'o')!r}) == 0; "
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _done(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store, timeout=30) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "cells" not in tables:
            return 0
        return db.execute("SELECT COUNT(*) FROM cells WHERE status = 'done'").fetchone()[0]


def _running_a_cell(pids: set[int]) -> bool:
    """Whether one of these processes is a Ray worker running a cell (its title says so)."""
    table = processes()
    return any(table.get(pid, (0, ""))[1].startswith("ray::_cell_task") for pid in pids)


def test_b_a_two_node_cluster_that_loses_a_node_finishes_every_cell_once(local, tmp_path):
    """A head node and a second node, each ``ray start`` on 127.0.0.1 with one CPU; the second
    is killed (``kill -9``, every process of it) while it runs a cell, and the matrix still
    ends with every cell done once, equal to the local run (16 tiny cells, not the 156 smoke
    cells, to stay within about 90 s on 2 cores)."""
    path, expected = local
    out = tmp_path / "cluster"
    driver = None
    with LocalCluster(nodes=2) as cluster:
        try:
            address = ("--backend", "ray", "--address", cluster.address, "--cell-memory", "1024")
            driver = subprocess.Popen(
                [sys.executable, "-m", "fedarena.cli", *_matrix(path, out, *address)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + RUN_LIMIT_S
            second = set()
            while time.monotonic() < deadline and driver.poll() is None:
                second = cluster.node_pids(1)
                if _running_a_cell(second):
                    break
                time.sleep(0.1)
            assert _done(out / STORE_NAME) < CELLS, "the matrix ended before the node was killed"
            assert _running_a_cell(second), "the second node never ran a cell"
            cluster.kill(1)
            _, err = driver.communicate(timeout=max(deadline - time.monotonic(), 1.0))
            assert driver.returncode == 0, err
        finally:
            if driver is not None and driver.poll() is None:
                driver.kill()
    assert not cluster.leftovers(), "a process of the cluster outlived it"
    assert _results(out) == expected
    with ResultStore.in_folder(out) as store:
        (session,) = store.sessions()
        assert len(store.records()) == CELLS
    assert (session["done"], session["failed"]) == (CELLS, 0), session
