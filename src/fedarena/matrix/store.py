"""The results store: one SQLite row per cell, written in one transaction each.

Every write is a single ``BEGIN IMMEDIATE ... COMMIT`` in write-ahead-log mode
with ``synchronous = FULL``: a process killed at any instant (``kill -9``)
leaves the database holding every committed cell and nothing half-written,
and the next run skips the cells already done. A row is keyed by the cell's
content key (``fedarena.matrix.cell``); a rerun of a failed or skipped cell
replaces its row.

Tables: ``cells`` (status, spec, final and per-round metrics, timings, the
rest of the run document, error and traceback) and ``sessions`` (one per
``fedarena matrix`` invocation: the file, workers, cores, limits, counts and
wall time; a session without ``finished_at`` was interrupted).

A write that fails (a full disk, a read-only folder) is a ``StoreError`` naming
the database file and SQLite's reason; the transaction is rolled back (or was,
by SQLite itself), so every cell committed before it is kept.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedarena.errors import FedarenaError, shown_path

STORE_NAME = "results.sqlite"
SCHEMA_VERSION = 1
STATUSES = ("done", "failed", "skipped")
RESULT_PARTS = ("final", "rounds", "timings")

_SCHEMA = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    matrix TEXT NOT NULL,
    matrix_sha256 TEXT NOT NULL,
    grids TEXT NOT NULL,
    version TEXT NOT NULL,
    workers INTEGER NOT NULL,
    cores INTEGER NOT NULL,
    machine TEXT NOT NULL,
    time_limit_s REAL NOT NULL,
    memory_limit_mb INTEGER NOT NULL,
    cells INTEGER NOT NULL,
    resumed INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    wall_s REAL,
    done INTEGER,
    failed INTEGER,
    skipped INTEGER
);
CREATE TABLE cells (
    key TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    version TEXT NOT NULL,
    seed INTEGER NOT NULL,
    attack TEXT NOT NULL,
    defense TEXT NOT NULL,
    strategy TEXT NOT NULL,
    malicious_fraction REAL NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'skipped')),
    reason TEXT,
    traceback TEXT,
    final TEXT,
    rounds TEXT,
    timings TEXT,
    result TEXT,
    wall_s REAL NOT NULL,
    finished_at TEXT NOT NULL,
    session INTEGER REFERENCES sessions(id)
);
CREATE INDEX cells_family ON cells(family);
"""


class StoreError(FedarenaError):
    """The results store cannot be opened or written; the cells committed before are kept."""


def _reason(err: sqlite3.Error | OSError) -> str:
    """SQLite's message and error name (``database or disk is full (SQLITE_FULL)``), or the
    system's for an ``OSError``."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    name = getattr(err, "sqlite_errorname", None)
    return f"{err} ({name})" if name else str(err)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def finite(value: Any) -> Any:
    """The same JSON value with NaN and infinities as ``None`` (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(finite(value), allow_nan=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class CellRecord:
    """A finished cell: ``done`` with its run document, or ``failed``/``skipped`` with a reason."""

    key: str
    family: str
    version: str
    seed: int
    spec: dict[str, Any]
    status: str
    wall_s: float
    finished_at: str
    reason: str | None = None
    traceback: str | None = None
    result: dict[str, Any] | None = None
    session: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if (self.status == "done") != (self.result is not None):
            raise ValueError("a cell has a result document exactly when its status is done")

    def as_dict(self) -> dict[str, Any]:
        return finite(asdict(self))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CellRecord:
        return cls(**values)


class ResultStore:
    """The SQLite database of one output folder (``<folder>/results.sqlite``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=60)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._create_or_check()
        except sqlite3.DatabaseError as err:
            raise StoreError(
                f"{shown_path(path)}: cannot use it as a results store: {_reason(err)}"
            ) from None

    @classmethod
    def in_folder(cls, folder: Path) -> ResultStore:
        return cls(folder / STORE_NAME)

    def _create_or_check(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version == 0 and tables == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise FedarenaError(
                    f"{self.path}: results store schema {version}, this fedarena reads "
                    f"schema {SCHEMA_VERSION}"
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """End the failed transaction, unless SQLite already rolled it back (as it does on a
        full disk: a ROLLBACK then fails with "no transaction is active")."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, parameters: Iterable[Any]) -> int:
        """Run one statement in its own immediate transaction; return the last row id."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(sql, tuple(parameters))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except (sqlite3.OperationalError, OSError) as err:  # a full disk, a read-only folder
            raise StoreError(
                f"{shown_path(self.path)}: cannot write the results store: {_reason(err)}; "
                "the cells stored before are kept"
            ) from None
        return int(cursor.lastrowid or 0)

    def put(self, record: CellRecord) -> None:
        """Insert or replace one cell's row, atomically."""
        document = dict(record.result) if record.result is not None else None
        parts = {p: document.pop(p, None) if document else None for p in RESULT_PARTS}
        spec = record.spec
        self._write(
            "INSERT OR REPLACE INTO cells VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.key,
                record.family,
                record.version,
                record.seed,
                spec["attack"],
                spec["defense"],
                spec["strategy"],
                spec["malicious_fraction"],
                _dumps(spec),
                record.status,
                record.reason,
                record.traceback,
                *(_dumps(parts[p]) for p in RESULT_PARTS),
                _dumps(document),
                record.wall_s,
                record.finished_at,
                record.session,
            ),
        )

    def done_keys(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT key FROM cells WHERE status = 'done'")}

    def records(self) -> list[CellRecord]:
        """Every cell row, in the order they were written."""
        records = []
        for row in self._db.execute("SELECT * FROM cells ORDER BY rowid"):
            document = _loads(row["result"])
            if document is not None:
                document |= {p: _loads(row[p]) for p in RESULT_PARTS}
            records.append(
                CellRecord(
                    key=row["key"],
                    family=row["family"],
                    version=row["version"],
                    seed=row["seed"],
                    spec=json.loads(row["spec"]),
                    status=row["status"],
                    reason=row["reason"],
                    traceback=row["traceback"],
                    result=document,
                    wall_s=row["wall_s"],
                    finished_at=row["finished_at"],
                    session=row["session"],
                )
            )
        return records

    def start_session(self, **info: Any) -> int:
        """Record the start of a ``fedarena matrix`` run; return its id."""
        info = {**info, "grids": json.dumps(info["grids"]), "started_at": now()}
        names = ", ".join(info)
        marks = ", ".join("?" for _ in info)
        return self._write(f"INSERT INTO sessions ({names}) VALUES ({marks})", info.values())

    def finish_session(self, session: int, wall_s: float, counts: dict[str, int]) -> None:
        self._write(
            "UPDATE sessions SET finished_at = ?, wall_s = ?, done = ?, failed = ?, skipped = ? "
            "WHERE id = ?",
            (now(), wall_s, counts["done"], counts["failed"], counts["skipped"], session),
        )

    def sessions(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM sessions ORDER BY id")
        return [{**dict(row), "grids": json.loads(row["grids"])} for row in rows]
