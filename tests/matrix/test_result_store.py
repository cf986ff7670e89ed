"""The SQLite store and its CSV/JSON exports: round trips, replacement, bad files."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3

import pytest

from fedarena.errors import FedarenaError
from fedarena.matrix.export import cells_csv, cells_json, read_cells
from fedarena.matrix.store import SCHEMA_VERSION, CellRecord, ResultStore
from fedarena.scenario.spec import Scenario


def _record(seed: int = 0, status: str = "done", ndcg: float = 0.25, **extra) -> CellRecord:
    spec = Scenario(seed=seed).to_dict()
    result = None
    if status == "done":
        result = {
            "schema": "fedarena.run/1",
            "spec": spec,
            "attack": {"goal": "none"},
            "final": {"ndcg@10": ndcg, "hr@10": 0.4, "auc": float("nan")},
            "rounds": [{"round": 0, "train_loss": 0.5, "ndcg@10": ndcg}],
            "timings": {"wall_s": 1.5},
            "baselines": {},
        }
    return CellRecord(
        key=f"k{seed}",
        family="f",
        version="0.1.0",
        seed=seed,
        spec=spec,
        status=status,
        wall_s=1.5,
        finished_at="2026-01-01T00:00:00+00:00",
        result=result,
        **extra,
    )


def test_round_trip_keeps_the_whole_document_and_nulls_nan(tmp_path):
    with ResultStore.in_folder(tmp_path) as store:
        store.put(_record(0))
        store.put(_record(1, status="failed", reason="RuntimeError: x", traceback="Traceback..."))
        done, failed = store.records()
    assert done.result["rounds"] == [{"round": 0, "train_loss": 0.5, "ndcg@10": 0.25}]
    assert done.result["final"]["auc"] is None  # NaN is not JSON: stored as null
    assert done.result["timings"] == {"wall_s": 1.5} and done.result["schema"] == "fedarena.run/1"
    assert (failed.status, failed.reason, failed.result) == ("failed", "RuntimeError: x", None)
    assert failed.traceback == "Traceback..."


def test_a_rerun_replaces_the_row_and_only_done_counts_as_finished(tmp_path):
    with ResultStore.in_folder(tmp_path) as store:
        store.put(_record(0, status="failed", reason="timeout"))
        store.put(_record(1, status="skipped", reason="n > 2f + 2"))
        assert store.done_keys() == set()
        store.put(_record(0))
        assert store.done_keys() == {"k0"}
        assert [r.status for r in store.records()] == ["skipped", "done"]


def test_the_store_survives_reopening(tmp_path):
    with ResultStore.in_folder(tmp_path) as store:
        session = store.start_session(
            matrix="m.toml",
            matrix_sha256="x",
            grids=["g"],
            version="0.1.0",
            workers=2,
            cores=2,
            machine="x86_64",
            time_limit_s=10.0,
            memory_limit_mb=1024,
            cells=1,
            resumed=0,
        )
        store.put(_record(0))
        store.finish_session(session, 3.0, {"done": 1, "failed": 0, "skipped": 0})
    with ResultStore.in_folder(tmp_path) as store:
        assert store.done_keys() == {"k0"}
        (run,) = store.sessions()
    assert run["grids"] == ["g"] and run["wall_s"] == 3.0 and run["done"] == 1


def test_a_record_has_a_result_exactly_when_done():
    done = _record(0)
    with pytest.raises(ValueError, match="exactly when its status is done"):
        CellRecord(**{**done.as_dict(), "status": "failed"})
    with pytest.raises(ValueError, match="status must be one of done, failed, skipped"):
        _record(0, status="running")


def test_a_foreign_file_is_refused_in_one_line(tmp_path):
    junk = tmp_path / "results.sqlite"
    junk.write_text("not a database at all, " * 100)
    with pytest.raises(FedarenaError, match="cannot use it as a results store"):
        ResultStore(junk)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(FedarenaError, match=f"schema {SCHEMA_VERSION + 1}, this fedarena reads"):
        ResultStore(other)


def test_json_export_reads_back_into_the_same_records(tmp_path):
    records = [_record(0), _record(1, status="skipped", reason="n > 2f + 2")]
    path = tmp_path / "cells.json"
    path.write_text(cells_json(records, [{"matrix": "m.toml"}]))
    back, sessions = read_cells(path)
    assert sessions == [{"matrix": "m.toml"}]
    assert [r.as_dict() for r in back] == [r.as_dict() for r in records]
    assert math.isnan(records[0].result["final"]["auc"])  # the export did not mutate records
    assert json.loads(path.read_text())["cells"][0]["result"]["final"]["auc"] is None


def test_csv_export_has_spec_metrics_and_reason_columns():
    rows = list(
        csv.DictReader(io.StringIO(cells_csv([_record(0), _record(1, "failed", reason="boom")])))
    )
    assert rows[0]["status"] == "done" and float(rows[0]["ndcg@10"]) == 0.25
    assert rows[0]["auc"] == "" and rows[0]["seed"] == "0" and rows[0]["defense"] == "fedavg"
    assert rows[1]["reason"] == "boom" and rows[1]["ndcg@10"] == ""


@pytest.mark.parametrize(
    "text", ["{", '{"schema": "other"}', '{"schema": "fedarena.cells/1", "cells": [{"key": 1}]}']
)
def test_bad_exports_are_refused(tmp_path, text):
    path = tmp_path / "cells.json"
    path.write_text(text)
    with pytest.raises(FedarenaError, match=r"cells\.json"):
        read_cells(path)
