"""Export the store: every cell as JSON (schema ``fedarena.cells/1``) and as one CSV row.

The JSON export holds each cell's record as stored (spec, status, reason,
traceback, the whole run document) and the sessions; it reads back into the
same records (``read_cells``), so a leaderboard can be built from an export
as well as from a store. The CSV is flat: key, status, every spec field, the
final metrics, wall time and reason.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from fedarena import __version__
from fedarena.errors import FedarenaError, os_error
from fedarena.io import json_text, write_text_atomic
from fedarena.matrix.store import CellRecord, finite, now
from fedarena.scenario.spec import Scenario, complete_spec

CELLS_SCHEMA = "fedarena.cells/1"
FIRST_METRICS = ("ndcg@10", "hr@10", "auc", "er@10", "target_rank")


def cells_json(records: list[CellRecord], sessions: list[dict[str, Any]]) -> str:
    document = {
        "schema": CELLS_SCHEMA,
        "fedarena_version": __version__,
        "exported_at": now(),
        "sessions": finite(sessions),
        "cells": [r.as_dict() for r in records],
    }
    return json_text(document, indent=1)


def read_cells(path: Path) -> tuple[list[CellRecord], list[dict[str, Any]]]:
    """The records and sessions of a JSON export."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FedarenaError(f"{path}: cannot read a cells export: {err}") from None
    if not isinstance(document, dict) or document.get("schema") != CELLS_SCHEMA:
        raise FedarenaError(f"{path}: not a cells export (schema {CELLS_SCHEMA} expected)")
    try:
        records = [CellRecord.from_dict(cell) for cell in document["cells"]]
    except (KeyError, TypeError, ValueError) as err:
        raise FedarenaError(f"{path}: malformed cell record: {err}") from None
    return records, document.get("sessions", [])


def metric_columns(records: list[CellRecord]) -> list[str]:
    """The final metrics any record holds: the main ones first, the rest sorted."""
    present = {k for r in records if r.result for k in r.result["final"]}
    return [m for m in FIRST_METRICS if m in present] + sorted(present - set(FIRST_METRICS))


def cells_csv(records: list[CellRecord]) -> str:
    spec_columns = [f.name for f in fields(Scenario)]
    metrics = metric_columns(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "status", *spec_columns, *metrics, "wall_s", "version", "reason"])
    for r in records:
        final = finite(r.result["final"]) if r.result else {}
        writer.writerow(
            [
                r.key,
                r.status,
                *(complete_spec(r.spec).get(c, "") for c in spec_columns),
                *("" if final.get(m) is None else final[m] for m in metrics),
                f"{r.wall_s:.3f}",
                r.version,
                r.reason or "",
            ]
        )
    return buffer.getvalue()


def export(records: list[CellRecord], sessions: list[dict[str, Any]], folder: Path) -> None:
    """Write ``cells.json`` and ``cells.csv`` into ``folder``; a write that fails (a full
    disk) is a one-line ``FedarenaError`` naming the file, the old file left whole."""
    files = {"cells.json": cells_json(records, sessions), "cells.csv": cells_csv(records)}
    for name, text in files.items():
        path = folder / name
        try:
            write_text_atomic(path, text)
        except OSError as err:
            raise os_error(path, err, "cannot write the export") from None
