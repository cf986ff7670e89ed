"""Export a matrix's cells to MLflow: one run per cell, in one experiment.

Each cell becomes one MLflow run: its params are the cell's spec (every
``Scenario`` field, as text) and its ``key``, ``family``, ``version`` and
``status``; its metrics are the final metrics (one value each, step 0), the
per-round metrics as ``round/<name>`` with step = round, and the timings as
``timings/<name>``; its tags carry the status, the reason of a failed or
skipped cell and the cell key; a done cell's run document is the artifact
``result.json`` and a failed cell's traceback ``traceback.txt``. Metric names
are spelled as MLflow allows (``ndcg@10`` becomes ``ndcg_at_10``).

Exporting is idempotent: a run is found again by its ``fedarena.key`` tag.
A run that already holds the same result (same ``fedarena.finished_at``) is
left as it is; a run from an older result of the cell (rerun since) or from an
export that was interrupted is deleted and logged anew, so every cell has
exactly one active run. NaN, infinite and missing values are never logged as
metrics; the summary counts them.

MLflow is an optional extra (``pip install 'fedarena[mlflow]'``), imported
only when an export runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fedarena.errors import FedarenaError
from fedarena.io import json_text
from fedarena.matrix.export import read_cells
from fedarena.matrix.store import STORE_NAME, CellRecord, ResultStore, finite
from fedarena.scenario.spec import Scenario, complete_spec

INSTALL_HINT = "pip install 'fedarena[mlflow]'"
KEY_TAG = "fedarena.key"
FINISHED_TAG = "fedarena.finished_at"
RESULT_ARTIFACT = "result.json"
TRACEBACK_ARTIFACT = "traceback.txt"
RUN_STATUS = {"done": "FINISHED", "failed": "FAILED", "skipped": "KILLED"}
# MLflow's own per-request limits (mlflow.utils.validation).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100


@dataclass(frozen=True)
class ExportSummary:
    """What an export did: runs logged (of them, ``replaced`` took an older run's place),
    cells left as they were, and metric values not logged because they were not finite."""

    uri: str
    experiment: str
    experiment_id: str
    cells: int
    logged: int
    replaced: int
    unchanged: int
    nonfinite: int


def load_results(source: Path) -> tuple[list[CellRecord], list[dict[str, Any]]]:
    """The records and sessions of a matrix output folder, its ``results.sqlite`` or a
    ``cells.json`` export."""
    path = source
    if source.is_dir():
        path = source / STORE_NAME
        if not path.is_file() and (source / "cells.json").is_file():
            path = source / "cells.json"
        elif not path.is_file():
            raise FedarenaError(f"{source}: no {STORE_NAME} or cells.json here")
    if not path.is_file():
        raise FedarenaError(f"{source}: no such folder or file")
    if path.suffix == ".json":
        return read_cells(path)
    with ResultStore(path) as store:
        return store.records(), store.sessions()


def experiment_name(source: Path, sessions: list[dict[str, Any]]) -> str:
    """The scenario file the cells came from (its stem, as ``results/<stem>`` is named), or
    else the results folder's name."""
    if sessions and sessions[-1].get("matrix"):
        return Path(sessions[-1]["matrix"]).stem
    folder = source if source.is_dir() else source.parent
    return folder.resolve().name or "fedarena"


def metric_name(name: str) -> str:
    """``name`` in the characters MLflow accepts on every platform (``@`` reads ``_at_``).

    >>> metric_name("ndcg@10"), metric_name("round/hr@10"), metric_name("loss:benign")
    ('ndcg_at_10', 'round/hr_at_10', 'loss_benign')
    """
    return re.sub(r"[^\w./\- ]", "_", name.replace("@", "_at_"))


def _number(value: Any) -> float | None:
    """A metric value as a finite float, or ``None`` where it has none."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _is_missing_number(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def cell_metrics(record: CellRecord) -> tuple[list[tuple[str, float, int]], int]:
    """The (name, value, step) metrics of a cell and how many values were not finite."""
    if record.result is None:
        return [], 0
    metrics: list[tuple[str, float, int]] = []
    nonfinite = 0

    def add(name: str, value: Any, step: int) -> None:
        nonlocal nonfinite
        number = _number(value)
        if number is not None:
            metrics.append((metric_name(name), number, step))
        elif _is_missing_number(value):
            nonfinite += 1

    for name, value in (record.result.get("final") or {}).items():
        add(name, value, 0)
    for index, row in enumerate(record.result.get("rounds") or []):
        step = row.get("round", index)
        for name, value in row.items():
            if name != "round":
                add(f"round/{name}", value, int(step))
    for name, value in (record.result.get("timings") or {}).items():
        add(f"timings/{name}", value, 0)
    return metrics, nonfinite


def _text(value: Any) -> str:
    """A param value as text: strings as they are, anything else as JSON spells it."""
    return value if isinstance(value, str) else json.dumps(value)


def cell_params(record: CellRecord) -> dict[str, str]:
    """Every spec field (``Scenario``'s first, then any other the record holds) and the cell's
    key, family, version and status."""
    names = [f.name for f in fields(Scenario)]
    spec = complete_spec(record.spec)
    names += sorted(set(spec) - set(names))
    params = {n: _text(spec[n]) for n in names if n in spec}
    return params | {
        "key": record.key,
        "family": record.family,
        "version": record.version,
        "status": record.status,
    }


def cell_tags(record: CellRecord) -> dict[str, str]:
    tags = {
        KEY_TAG: record.key,
        "fedarena.family": record.family,
        "fedarena.status": record.status,
    }
    if record.reason:
        tags["fedarena.reason"] = record.reason
    return tags


def run_name(record: CellRecord) -> str:
    s = record.spec
    return (
        f"{s.get('attack')} / {s.get('defense')} / {s.get('strategy')} "
        f"f={s.get('malicious_fraction')} seed={s.get('seed')}"
    )


def _millis(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


@contextlib.contextmanager
def _environment(values: dict[str, str], override: bool = False) -> Iterator[None]:
    """Set environment variables for the block (those the user set win unless ``override``)."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if override or name not in os.environ:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _import_mlflow() -> Any:
    """MLflow's client class, or one line saying how to install MLflow."""
    try:
        import mlflow.tracking
    except ImportError as err:
        raise FedarenaError(
            f"MLflow cannot be imported ({err}); install it with {INSTALL_HINT}"
        ) from None
    return mlflow.tracking.MlflowClient


def _is_file_store(uri: str) -> bool:
    return urlparse(uri).scheme in ("", "file")


def _first_line(err: BaseException) -> str:
    """The gist of ``err`` in one line: a failed connection as its OS error, else the first
    line of the message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    line = lines[0] if lines else type(err).__name__
    refused = re.search(r"\[Errno -?\d+\] ([^\"')]+)", line)
    if line.startswith("API request to") and refused:
        return f"cannot reach the tracking server ({refused.group(1).strip()})"
    return line


def _connect(client_class: Any, uri: str, experiment: str) -> tuple[Any, str]:
    """A client on ``uri`` and the id of ``experiment`` there (created if new); one line
    naming the URI when the store cannot be reached or used."""
    from mlflow.entities import LifecycleStage
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    try:
        # First contact fails in seconds: MLflow's default retries take minutes to give up.
        with (
            _environment({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, override=True),
            _environment({"MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}),
        ):
            client = client_class(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
    except UnsupportedModelRegistryStoreURIException as err:
        schemes = ", ".join(s for s in err.supported_uri_schemes if s)
        raise FedarenaError(
            f"MLflow tracking URI {uri!r}: unsupported scheme {urlparse(uri).scheme!r} "
            f"(MLflow knows {schemes})"
        ) from None
    # Anything the store raises on first contact (MLflow, HTTP, SQLAlchemy, the file
    # system) means the same to the user: this URI cannot be used.
    except Exception as err:
        raise FedarenaError(f"MLflow tracking URI {uri!r}: {_first_line(err)}") from None
    if found is not None and found.lifecycle_stage == LifecycleStage.DELETED:
        raise FedarenaError(
            f"MLflow experiment {experiment!r} at {uri!r} is deleted; restore it "
            f"(mlflow experiments restore --experiment-id {found.experiment_id}) "
            "or choose another --experiment"
        )
    if found is not None:
        return client, found.experiment_id
    try:
        return client, client.create_experiment(experiment, tags={"fedarena": "cells"})
    except Exception as err:
        raise FedarenaError(f"MLflow tracking URI {uri!r}: {_first_line(err)}") from None


def _existing_runs(client: Any, experiment_id: str) -> dict[str, list[Any]]:
    """The experiment's active runs, by the cell key they were tagged with."""
    runs: dict[str, list[Any]] = {}
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], max_results=MAX_METRICS_PER_BATCH, page_token=token
        )
        for run in page:
            key = run.data.tags.get(KEY_TAG)
            if key is not None:
                runs.setdefault(key, []).append(run)
        token = page.token
        if not token:
            return runs


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _log_run(client: Any, experiment_id: str, record: CellRecord) -> int:
    """Log one cell as one run; return how many of its values were not finite."""
    from mlflow.entities import Metric, Param

    end = _millis(record.finished_at)
    run = client.create_run(
        experiment_id,
        start_time=end - int(record.wall_s * 1000),
        tags=cell_tags(record),
        run_name=run_name(record),
    )
    run_id = run.info.run_id
    params = [Param(k, v) for k, v in cell_params(record).items()]
    for batch in _chunks(params, MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=batch)
    metrics, nonfinite = cell_metrics(record)
    entries = [Metric(name, value, end, step) for name, value, step in metrics]
    for batch in _chunks(entries, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=batch)
    if record.result is not None:
        client.log_text(run_id, json_text(finite(record.result), indent=1), RESULT_ARTIFACT)
    if record.traceback:
        client.log_text(run_id, record.traceback, TRACEBACK_ARTIFACT)
    # Written last: a run with this tag holds the whole cell (see _is_current).
    client.set_tag(run_id, FINISHED_TAG, record.finished_at)
    client.set_terminated(run_id, RUN_STATUS[record.status], end_time=end)
    return nonfinite


def _is_current(run: Any, record: CellRecord) -> bool:
    return run.data.tags.get(FINISHED_TAG) == record.finished_at


def log_cells(records: list[CellRecord], uri: str, experiment: str) -> ExportSummary:
    """Log ``records`` into ``experiment`` at the MLflow tracking ``uri``, one run per cell,
    leaving cells already exported with the same result as they are."""
    if not uri.strip():
        raise FedarenaError("--mlflow: the tracking URI is empty; give e.g. file:./mlruns")
    if not experiment.strip():
        raise FedarenaError("--experiment: the experiment name is empty")
    client_class = _import_mlflow()
    # A file store is what the user asked for by naming one; MLflow 3 wants an opt-in.
    allow = {"MLFLOW_ALLOW_FILE_STORE": "true"} if _is_file_store(uri) else {}
    with _environment(allow):
        client, experiment_id = _connect(client_class, uri, experiment)
        logged = replaced = unchanged = nonfinite = 0
        try:
            existing = _existing_runs(client, experiment_id)
            for record in records:
                runs = existing.get(record.key, [])
                current = next((r for r in runs if _is_current(r, record)), None)
                for stale in runs:
                    if stale is not current:
                        client.delete_run(stale.info.run_id)
                if current is not None:
                    unchanged += 1
                    continue
                nonfinite += _log_run(client, experiment_id, record)
                logged += 1
                replaced += bool(runs)
        except FedarenaError:
            raise
        except Exception as err:
            raise FedarenaError(
                f"MLflow tracking URI {uri!r}: export stopped after {logged} runs "
                f"(rerun to resume): {_first_line(err)}"
            ) from None
    return ExportSummary(
        uri=uri,
        experiment=experiment,
        experiment_id=experiment_id,
        cells=len(records),
        logged=logged,
        replaced=replaced,
        unchanged=unchanged,
        nonfinite=nonfinite,
    )


def export_results(source: Path, uri: str, experiment: str | None = None) -> ExportSummary:
    """Export the cells of a results folder, store or ``cells.json`` to MLflow; the experiment
    is named after the scenario file unless ``experiment`` is given."""
    records, sessions = load_results(source)
    name = experiment if experiment is not None else experiment_name(source, sessions)
    return log_cells(records, uri, name)
