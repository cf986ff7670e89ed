"""``fedarena export --mlflow``: every cell of a matrix is one MLflow run holding exactly the
store's numbers, a rerun adds no runs, and a bad URI or a missing MLflow is one line."""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
import socket
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

import fedarena.matrix.tracking as tracking
from fedarena import cli
from fedarena.cli import export
from fedarena.matrix.export import cells_json
from fedarena.matrix.file import load_matrix
from fedarena.matrix.runner import run_matrix
from fedarena.matrix.store import CellRecord, ResultStore
from fedarena.matrix.tracking import export_results, log_cells, metric_name
from fedarena.scenario.spec import Scenario
from tiny import toml

mlflow_tracking = pytest.importorskip("mlflow.tracking", reason="needs fedarena[mlflow]")

FAILED_KEY = "f" * 64
GAPPY_KEY = "e" * 64


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A tiny matrix's folder, plus one failed cell and one whose metrics have gaps."""
    root = tmp_path_factory.mktemp("matrix")
    scenario = root / "tinyshop.toml"
    scenario.write_text(toml() + 'attack = ["none", "sybil"]\ndefense = ["fedavg", "median"]\n')
    folder = root / "out"
    counts = run_matrix(load_matrix(scenario), folder, workers=2)
    assert counts.done == counts.total >= 4
    with ResultStore.in_folder(folder) as store:
        done = store.records()[0]
        store.put(
            replace(
                done,
                key=FAILED_KEY,
                status="failed",
                result=None,
                reason="RuntimeError: this defense always fails",
                traceback="Traceback (most recent call last):\nRuntimeError: always fails\n",
            )
        )
        rounds = [dict(r, train_loss=math.nan) for r in done.result["rounds"]]
        gappy = {**done.result, "final": {**done.result["final"], "auc": math.inf}}
        store.put(replace(done, key=GAPPY_KEY, result={**gappy, "rounds": rounds}))
    return folder


@pytest.fixture()
def reader(monkeypatch):
    """A function giving an MLflow client on a URI (MLflow 3 wants file stores opted into)."""

    def client(uri: str):
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        return mlflow_tracking.MlflowClient(tracking_uri=uri)

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    return client


def _records(folder: Path) -> dict[str, CellRecord]:
    with ResultStore.in_folder(folder) as store:
        return {r.key: r for r in store.records()}


def _runs(client, experiment: str) -> dict[str, object]:
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=1000)
    keys = [r.data.tags[tracking.KEY_TAG] for r in runs]
    assert len(keys) == len(set(keys)), f"duplicate runs: {sorted(keys)}"
    return {r.data.tags[tracking.KEY_TAG]: r for r in runs}


def _nonfinite(records: dict[str, CellRecord]) -> int:
    """Missing values counted from the store, independently of the exporter."""
    count = 0
    for r in records.values():
        if r.result is None:
            continue
        values = [*r.result["final"].values(), *r.result["timings"].values()]
        values += [v for row in r.result["rounds"] for k, v in row.items() if k != "round"]
        count += sum(v is None for v in values)
    return count


def test_every_cell_is_one_run_holding_the_stores_numbers(results, tmp_path, reader):
    uri = (tmp_path / "mlruns").as_uri()
    summary = export_results(results, uri)
    records = _records(results)
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # restored after export
    assert (summary.experiment, summary.cells, summary.logged) == (
        "tinyshop",
        len(records),
        len(records),
    )
    assert summary.nonfinite == _nonfinite(records) > 0

    client = reader(uri)
    runs = _runs(client, "tinyshop")
    assert runs.keys() == records.keys()
    for key, record in records.items():
        run = runs[key]
        params = run.data.params
        assert [n for n in (f.name for f in fields(Scenario)) if n not in params] == []
        assert params["seed"] == str(record.spec["seed"])
        assert params["defense"] == record.spec["defense"]
        assert params["malicious_fraction"] == json.dumps(record.spec["malicious_fraction"])
        assert (params["key"], params["family"], params["status"]) == (
            key,
            record.family,
            record.status,
        )
        assert run.data.tags["fedarena.status"] == record.status
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        if record.status == "failed":
            assert run.info.status == "FAILED" and run.data.metrics == {}
            assert run.data.tags["fedarena.reason"] == record.reason
            assert artifacts == {"traceback.txt"}
            continue
        assert run.info.status == "FINISHED" and "fedarena.reason" not in run.data.tags
        final = {metric_name(k): v for k, v in record.result["final"].items() if v is not None}
        logged_final = {k: v for k, v in run.data.metrics.items() if "/" not in k}
        assert logged_final == final
        for name in record.result["rounds"][0]:
            if name == "round":
                continue
            history = client.get_metric_history(run.info.run_id, f"round/{metric_name(name)}")
            expected = [
                (row["round"], float(row[name]))
                for row in record.result["rounds"]
                if row[name] is not None
            ]
            assert sorted((m.step, m.value) for m in history) == expected
        assert artifacts == {"result.json"}
        path = client.download_artifacts(run.info.run_id, "result.json", str(tmp_path))
        assert json.loads(Path(path).read_text()) == record.result
    assert "auc" not in runs[GAPPY_KEY].data.metrics
    assert "round/train_loss" not in runs[GAPPY_KEY].data.metrics


def test_a_rerun_adds_no_runs_and_a_changed_cell_replaces_its_run(results, tmp_path, reader):
    folder = tmp_path / "out"
    shutil.copytree(results, folder)
    uri = (tmp_path / "mlruns").as_uri()
    first = export_results(folder, uri, experiment="again")
    second = export_results(folder, uri, experiment="again")
    assert (second.logged, second.unchanged) == (0, first.logged)
    before = _runs(reader(uri), "again")

    with ResultStore.in_folder(folder) as store:
        failed = next(r for r in store.records() if r.key == FAILED_KEY)
        store.put(replace(failed, finished_at="2031-01-02T03:04:05+00:00", reason="rerun"))
    third = export_results(folder, uri, experiment="again")
    assert (third.logged, third.replaced, third.unchanged) == (1, 1, first.logged - 1)
    after = _runs(reader(uri), "again")
    assert after.keys() == before.keys()
    assert after[FAILED_KEY].info.run_id != before[FAILED_KEY].info.run_id
    assert after[FAILED_KEY].data.tags["fedarena.reason"] == "rerun"
    unchanged = [k for k in after if k != FAILED_KEY]
    assert all(after[k].info.run_id == before[k].info.run_id for k in unchanged)


def test_a_cells_json_export_gives_the_same_runs(results, tmp_path, reader):
    with ResultStore.in_folder(results) as store:
        text = cells_json(store.records(), store.sessions())
    (tmp_path / "cells.json").write_text(text)
    uri = (tmp_path / "mlruns").as_uri()
    export_results(results, uri, experiment="from-store")
    summary = export_results(tmp_path / "cells.json", uri)
    assert summary.experiment == "tinyshop"
    client = reader(uri)
    from_store, from_json = _runs(client, "from-store"), _runs(client, "tinyshop")
    assert from_json.keys() == from_store.keys()
    for key, run in from_json.items():
        assert run.data.metrics == from_store[key].data.metrics
        assert run.data.params == from_store[key].data.params


def test_nan_inf_and_missing_values_are_skipped_and_counted(results, tmp_path, reader):
    done = next(r for r in _records(results).values() if r.status == "done")
    final = {"ndcg@10": 0.25, "hr@10": math.nan, "auc": -math.inf, "er@10": None}
    rounds = [{"round": 0, "train_loss": math.inf, "seconds": 0.5, "skipped_step": True}]
    record = replace(done, result={**done.result, "final": final, "rounds": rounds})
    uri = (tmp_path / "mlruns").as_uri()
    summary = log_cells([record], uri, "gaps")
    assert (summary.logged, summary.nonfinite) == (1, 4)
    run = next(iter(_runs(reader(uri), "gaps").values()))
    timings = {f"timings/{k}": v for k, v in done.result["timings"].items()}
    assert run.data.metrics == {
        "ndcg_at_10": 0.25,
        "round/seconds": 0.5,
        "round/skipped_step": 1.0,
        **timings,
    }


def test_a_database_store_works_the_same(results, tmp_path, monkeypatch, reader):
    monkeypatch.chdir(tmp_path)  # MLflow puts a database store's artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = export_results(results, uri)
    second = export_results(results, uri)
    assert first.logged == second.unchanged == len(_records(results)) and second.logged == 0
    runs = _runs(reader(uri), "tinyshop")
    done = next(r for r in _records(results).values() if r.status == "done")
    final = {metric_name(k): v for k, v in done.result["final"].items() if v is not None}
    assert {k: v for k, v in runs[done.key].data.metrics.items() if "/" not in k} == final
    assert (tmp_path / "mlruns").is_dir()


def _cli(monkeypatch, *argv: str) -> int:
    """``fedarena export ...`` through the CLI's own error handling."""
    return cli.main(["export", *argv])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "uri, message",
    [
        ("foo://nowhere", "unsupported scheme 'foo'"),
        (f"http://127.0.0.1:{_closed_port()}", "cannot reach the tracking server"),
        ("file:///dev/null/mlruns", "Not a directory"),
        ("", "the tracking URI is empty"),
    ],
)
def test_a_bad_uri_is_one_line_naming_it_and_exit_2(results, monkeypatch, capsys, uri, message):
    assert _cli(monkeypatch, str(results), "--mlflow", uri) == 2
    err = _one_line_error(capsys)
    assert message in err and (not uri or repr(uri) in err), err


def test_the_cli_exports_and_says_what_it_did(results, tmp_path, monkeypatch, capsys, reader):
    uri = (tmp_path / "mlruns").as_uri()
    assert _cli(monkeypatch, str(results), "--mlflow", uri, "--experiment", "cli") == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at the terminal width
    assert "experiment 'cli'" in out and f"{len(_records(results))} logged" in out
    assert len(_runs(reader(uri), "cli")) == len(_records(results))


def test_a_missing_results_folder_is_one_line(tmp_path, monkeypatch, capsys):
    uri = (tmp_path / "mlruns").as_uri()
    assert _cli(monkeypatch, str(tmp_path / "nope"), "--mlflow", uri) == 2
    assert "nope: no such folder or file" in _one_line_error(capsys)
    assert not (tmp_path / "nope").exists()


def test_without_mlflow_the_error_says_how_to_install_it(results, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    uri = (tmp_path / "mlruns").as_uri()
    assert _cli(monkeypatch, str(results), "--mlflow", uri) == 2
    assert "pip install 'fedarena[mlflow]'" in _one_line_error(capsys)
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("module", [tracking, export])
def test_mlflow_is_imported_only_inside_functions(module):
    tree = ast.parse(Path(module.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] == "mlflow"]
