"""A full disk mid-matrix: one line naming the file and the reason, exit status 2, and every cell
stored before it kept (no failed rollback, no chained traceback), on the first run and on a
rerun while the disk is still full."""

from __future__ import annotations

import errno
import os
import sqlite3
import types
from pathlib import Path
from typing import Any

import pytest

import fedarena.io
from fedarena.cli import main
from fedarena.errors import FedarenaError
from fedarena.io import write_text_atomic
from fedarena.matrix.export import export
from fedarena.matrix.store import CellRecord, ResultStore, StoreError
from fedarena.scenario.spec import Scenario

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")


class FullDatabase:
    """A connection on a full disk: a write fails as SQLite's does, SQLite having rolled the
    transaction back itself (so a ROLLBACK after it finds no transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *parameters: Any) -> sqlite3.Cursor:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            self._db.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _full_fdopen(fd: int, *args: Any, **kwargs: Any):
    """``os.fdopen`` on a full disk: the file opens, its writes fail with ENOSPC."""
    os.close(fd)
    return open("/dev/full", *args, **kwargs)


def _fill_disk(monkeypatch) -> None:
    """From now on, the files ``fedarena.io`` writes fail with ENOSPC (no other module's)."""
    full_os = types.SimpleNamespace(**{**vars(os), "fdopen": _full_fdopen})
    monkeypatch.setattr(fedarena.io, "os", full_os)


def _record(seed: int) -> CellRecord:
    spec = Scenario(seed=seed).to_dict()
    return CellRecord(f"k{seed}", "f", "0.1.0", seed, spec, "failed", 1.0, "now", reason="x")


def test_a_full_store_keeps_its_cells_and_names_the_file(tmp_path):
    with ResultStore.in_folder(tmp_path) as store:
        store.put(_record(0))
        store._db = FullDatabase(store._db)
        with pytest.raises(StoreError) as caught:
            store.put(_record(1))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'results.sqlite'}: cannot write the results store")
    assert "database or disk is full" in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with ResultStore.in_folder(tmp_path) as store:
        assert [r.key for r in store.records()] == ["k0"]


def test_a_full_disk_fails_the_export_in_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    export([_record(0)], [], tmp_path)
    before = (tmp_path / "cells.json").read_text()
    _fill_disk(monkeypatch)
    with pytest.raises(FedarenaError) as caught:
        export([_record(0), _record(1)], [], tmp_path)
    expected = f"{tmp_path / 'cells.json'}: cannot write the export (No space left on device)"
    assert str(caught.value) == expected
    assert (tmp_path / "cells.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.csv", "cells.json"]


def test_an_atomic_write_on_a_full_disk_names_its_file(tmp_path, monkeypatch):
    _fill_disk(monkeypatch)
    with pytest.raises(OSError) as caught:
        write_text_atomic(tmp_path / "r.json", "{}")
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(tmp_path / "r.json"))
    assert list(tmp_path.iterdir()) == []


def test_a_matrix_on_a_filling_disk_stops_in_one_line_and_keeps_its_cells(
    write_matrix, tmp_path, capsys, monkeypatch
):
    path = write_matrix("seed = [0, 1]\nbaselines = false\n")
    out = tmp_path / "out"
    put = ResultStore.put

    def put_then_fill(self: ResultStore, record) -> None:
        put(self, record)  # the first cell is stored; then the disk is full
        self._db = FullDatabase(self._db)
        _fill_disk(monkeypatch)

    monkeypatch.setattr(ResultStore, "put", put_then_fill)
    args = ["matrix", "--scenario", str(path), "--out", str(out), "--quiet", "--workers", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "rollback" not in err, err
    assert f"{out / 'results.sqlite'}: cannot write the results store" in err
    assert "database or disk is full" in err

    # A rerun while the disk is still full: the same line, nothing lost.
    opened = ResultStore.__init__

    def open_full(self: ResultStore, path: Path) -> None:
        opened(self, path)
        self._db = FullDatabase(self._db)

    monkeypatch.setattr(ResultStore, "__init__", open_full)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "database or disk is full" in err, err
    monkeypatch.undo()
    with ResultStore.in_folder(out) as store:
        assert [r.status for r in store.records()] == ["done"]
