"""Cells run in their own processes: a defense that raises, hangs, exhausts memory or dies
fails its cell with the reason, one that cannot run by construction is skipped, and the
matrix goes on."""

from __future__ import annotations

import time

from fedarena.matrix.file import load_matrix
from fedarena.matrix.runner import run_matrix
from fedarena.matrix.store import ResultStore
from fedarena.sandbox.limits import Limits

TIME_LIMIT_S = 4.0
MEMORY_MB = 1536


def test_misbehaving_defenses_fail_their_cells_and_the_matrix_goes_on(
    write_matrix, plugin, tmp_path
):
    defenses = ["Mean", "Raises", "Hangs", "Hogs", "Dies", "NeedsTen"]
    listed = ", ".join(f'"{plugin(d)}"' for d in defenses)
    path = write_matrix(f"clients_per_round = 5\ndefense = [{listed}]\n")
    seen = []
    start = time.monotonic()
    counts = run_matrix(
        load_matrix(path),
        tmp_path / "out",
        workers=2,
        limits=Limits(seconds=TIME_LIMIT_S, memory_mb=MEMORY_MB),
        on_outcome=lambda cell, outcome, counts: seen.append(outcome.status),
    )
    elapsed = time.monotonic() - start
    with ResultStore.in_folder(tmp_path / "out") as store:
        rows = {r.spec["defense"].rpartition(":")[2]: r for r in store.records()}
    assert (counts.done, counts.failed, counts.skipped) == (2, 4, 1)  # fedavg reference + Mean
    assert len(seen) == 7 and rows["fedavg"].status == "done" and rows["Mean"].status == "done"

    assert rows["Raises"].reason == "RuntimeError: this defense always fails"
    assert "cell_plugins.py" in rows["Raises"].traceback

    assert rows["Hangs"].reason == f"time limit of {TIME_LIMIT_S:g} s exceeded"
    assert TIME_LIMIT_S <= rows["Hangs"].wall_s < TIME_LIMIT_S + 2

    assert rows["Hogs"].reason.startswith(f"memory limit of {MEMORY_MB} MiB exceeded (")
    assert "cell_plugins.py" in rows["Hogs"].traceback

    assert rows["Dies"].reason.startswith("the worker process was killed by SIGKILL")

    assert rows["NeedsTen"].status == "skipped"
    assert "needs n >= 10 clients per round, got n=5" in rows["NeedsTen"].reason
    assert elapsed < 60  # six jailed interpreters importing torch, on two workers


def test_unknown_components_can_be_skipped_instead_of_refused(write_matrix, tmp_path):
    path = write_matrix('defense = ["fedavg", "not_yet_written"]\n')
    counts = run_matrix(load_matrix(path), tmp_path / "out", workers=1, skip_unknown=True)
    assert (counts.done, counts.skipped) == (1, 1)
    with ResultStore.in_folder(tmp_path / "out") as store:
        skipped = [r for r in store.records() if r.status == "skipped"]
    assert "unknown defense 'not_yet_written'" in skipped[0].reason
