"""A leaderboard entry: one submitted defense's cells and the manifest that identifies them.

Schema ``fedarena.entry/1``, written by ``fedarena submit`` and read by
``fedarena leaderboard`` beside matrix folders and cell exports::

    {"schema": "fedarena.entry/1",
     "defense": "norm_trim.py:NormTrim",
     "manifest": {"spec_sha256", "sources", "versions", "seeds", "matrix",
                  "conformance", "counts", "machine", "platform", "created_at"},
     "sessions": [...],          # the matrix runs that computed the cells
     "cells": [...]}             # cell records, as in a cells.json export

``spec_sha256`` is the SHA-256 of the canonical JSON of the sorted, fully
resolved cell specs (seeds included) with the fedarena version; ``sources``
maps each file the defense is built from to its SHA-256. Two entries with the
same ``spec_sha256`` and ``sources`` ran the same code on the same cells.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fedarena import __version__
from fedarena.errors import FedarenaError
from fedarena.io import write_json_atomic
from fedarena.leaderboard.manifest import environment
from fedarena.matrix.store import STATUSES, CellRecord, finite

ENTRY_SCHEMA = "fedarena.entry/1"


def spec_digest(specs: list[dict[str, Any]], version: str = __version__) -> str:
    """SHA-256 of the canonical JSON of the resolved specs (order-free) and the version."""
    canonical = sorted(json.dumps(s, sort_keys=True, separators=(",", ":")) for s in specs)
    text = json.dumps({"specs": canonical, "version": version}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def entry_document(
    defense: str,
    records: list[CellRecord],
    sessions: list[dict[str, Any]],
    conformance: dict[str, Any],
    sources: dict[str, str],
    matrix: dict[str, Any],
) -> dict[str, Any]:
    """The entry for ``defense`` from its cells (its own and the references) and provenance."""
    manifest = {
        "spec_sha256": spec_digest([r.spec for r in records]),
        "sources": sources,
        "seeds": sorted({r.seed for r in records}),
        "matrix": matrix,
        "conformance": conformance,
        "counts": {status: sum(r.status == status for r in records) for status in STATUSES},
        **environment(),
    }
    return finite(
        {
            "schema": ENTRY_SCHEMA,
            "defense": defense,
            "manifest": manifest,
            "sessions": sessions,
            "cells": [r.as_dict() for r in records],
        }
    )


def write_entry(path: Path, document: dict[str, Any]) -> None:
    try:
        write_json_atomic(path, document, indent=1)
    except OSError as err:
        raise FedarenaError(f"--entry: cannot write {path}: {err.strerror}") from None


def entry_records(
    document: dict[str, Any], path: Path
) -> tuple[list[CellRecord], list[dict[str, Any]]]:
    """The cell records and sessions of an entry document read from ``path``."""
    try:
        records = [CellRecord.from_dict(cell) for cell in document["cells"]]
    except (KeyError, TypeError, ValueError) as err:
        raise FedarenaError(f"{path}: malformed entry cell record: {err}") from None
    return records, document.get("sessions", [])


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line error naming it."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FedarenaError(f"{path}: cannot read it as JSON: {err}") from None
    if not isinstance(document, dict):
        raise FedarenaError(f"{path}: expected a JSON object")
    return document


def entry_summary(document: dict[str, Any]) -> dict[str, Any]:
    """What the leaderboard shows of an entry: the defense and its manifest without the cells."""
    manifest = document["manifest"]
    return {
        "defense": document["defense"],
        "spec_sha256": manifest["spec_sha256"],
        "sources": manifest["sources"],
        "versions": manifest["versions"],
        "conformance_passed": manifest["conformance"]["passed"],
        "counts": manifest["counts"],
        "created_at": manifest["created_at"],
    }
