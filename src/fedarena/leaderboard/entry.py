"""A leaderboard entry: one submitted defense's cells and the manifest that identifies them.

Schema ``fedarena.entry/2``, written by ``fedarena submit`` and read by
``fedarena leaderboard`` beside matrix folders and cell exports::

    {"schema": "fedarena.entry/2",
     "defense": "norm_trim.py:NormTrim",
     "manifest": {"spec_sha256", "sources", "versions", "seeds", "matrix",
                  "conformance", "counts", "machine", "platform", "created_at"},
     "source_text": {file: text},  # each source file's text (None above SOURCE_CAP_BYTES)
     "sessions": [...],            # the matrix runs that computed the cells
     "cells": [...],               # cell records, as in a cells.json export
     "verification": {...}}        # written by ``fedarena verify`` (optional)

``spec_sha256`` is the SHA-256 of the canonical JSON of the sorted, fully
resolved cell specs (seeds included) with the fedarena version; ``sources``
maps each file the defense is built from to its SHA-256. Two entries with the
same ``spec_sha256`` and ``sources`` ran the same code on the same cells.
The source text lets ``fedarena verify`` rerun a sample of the cells from the
entry alone; ``fedarena.entry/1`` entries (no text) are still read, shown as
"source not included".

An entry is *verified* when its ``verification`` record says the reruns matched
and names this entry's ``entry_digest`` (the document without the record): a
cell edited after verification makes it unverified again. An entry whose cell
values are outside their ranges (``RANGES``) is refused, with a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from fedarena import __version__
from fedarena.errors import FedarenaError
from fedarena.io import write_json_atomic
from fedarena.leaderboard.manifest import environment
from fedarena.matrix.store import STATUSES, CellRecord, finite

ENTRY_SCHEMA = "fedarena.entry/2"
ENTRY_SCHEMAS = ("fedarena.entry/1", ENTRY_SCHEMA)
SOURCE_CAP_BYTES = 1_000_000  # a larger source file's text is left out (None)
# The values a cell metric can take, per round and final: (low, high), inclusive.
RANGES = {
    "ndcg@10": (0.0, 1.0),
    "hr@10": (0.0, 1.0),
    "auc": (0.0, 1.0),
    "er@10": (0.0, 1.0),
    "target_rank": (1.0, math.inf),
    "epsilon": (0.0, math.inf),
}


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
    source_text: dict[str, str | None],
) -> dict[str, Any]:
    """The entry for ``defense`` from its cells (its own and the references), provenance and
    the text of its source files."""
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
            "source_text": source_text,
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


def read_source_text(sources: dict[str, str]) -> dict[str, str | None]:
    """Each source file's text, checked against its SHA-256; ``None`` above the size cap."""
    texts: dict[str, str | None] = {}
    for name, digest in sources.items():
        try:
            data = Path(name).read_bytes()
        except OSError as err:
            raise FedarenaError(f"{name}: cannot read the source file: {err.strerror}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise FedarenaError(f"{name}: changed since the conformance checks read it")
        texts[name] = data.decode() if len(data) <= SOURCE_CAP_BYTES else None
    return texts


def entry_digest(document: dict[str, Any]) -> str:
    """SHA-256 of the entry's canonical JSON without its verification record."""
    content = {k: v for k, v in document.items() if k != "verification"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def verification_status(document: dict[str, Any]) -> str:
    """``verified``, or why not: no record, a record of another content, reruns that differed."""
    record = document.get("verification")
    if not isinstance(record, dict):
        return "unverified"
    if record.get("entry_sha256") != entry_digest(document):
        return "unverified (changed since verified)"
    return "verified" if record.get("matched") is True else "unverified (reruns differ)"


def range_problem(document: dict[str, Any]) -> str | None:
    """The first cell value outside its range (``RANGES``) or not finite, as a sentence."""
    for cell in document.get("cells", []):
        result = cell.get("result") or {}
        rounds = result.get("rounds") or []
        for where, values in [("final", result.get("final") or {})] + [
            (f"round {r.get('round', i)}", r) for i, r in enumerate(rounds)
        ]:
            for metric, (low, high) in RANGES.items():
                value = values.get(metric)
                if value is None:
                    continue
                if not isinstance(value, int | float) or not low <= value <= high:
                    bounds = f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
                    return (
                        f"cell {str(cell.get('key'))[:12]} {where}: {metric} = {value!r} "
                        f"is outside {bounds}"
                    )
    return None


def entry_summary(document: dict[str, Any]) -> dict[str, Any]:
    """What the leaderboard shows of an entry: the defense and its manifest without the cells,
    whether its source is included and verified, and its runtime budget if it was not the
    default (``default_budget_s``, written by ``fedarena submit`` beside the budget used)."""
    manifest = document["manifest"]
    conformance = manifest["conformance"]
    budget, default = conformance.get("runtime_budget_s"), conformance.get("default_budget_s")
    return {
        "defense": document["defense"],
        "spec_sha256": manifest["spec_sha256"],
        "sources": manifest["sources"],
        "versions": manifest["versions"],
        "conformance_passed": manifest["conformance"]["passed"],
        "counts": manifest["counts"],
        "created_at": manifest["created_at"],
        "source_included": "source_text" in document,
        "verification": verification_status(document),
        "budget_override_s": budget if default is not None and budget != default else None,
    }
