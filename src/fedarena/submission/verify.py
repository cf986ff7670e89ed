"""Verify a leaderboard entry: rerun a sample of its cells from the source it carries.

An entry (``fedarena.entry/2``) holds the text of each source file of its
defense. Verifying writes the plugin files among them into a scratch folder
(after checking each text against the SHA-256 of the manifest), points the
cell specs at those copies (the only change to a spec), and reruns a
deterministic sample of the done cells through the matrix's own runner
(``MatrixRunner``: one limited process per cell, a plugin cell jailed), into a
scratch results store. Each rerun's final metrics and per-round values
(wall times aside) must equal the entry's exactly: a rerun of the same spec on
the same machine is bit-identical (the matrix gate relies on it); on another
machine or torch build, float results may differ in the last bits, and verify
reports them as differences.

The outcome is recorded in the entry itself (key ``verification``), naming the
SHA-256 of the entry without the record (``entry_digest``): the leaderboard
shows an entry verified only while its content is the one that was rerun.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedarena import __version__
from fedarena.errors import FedarenaError
from fedarena.leaderboard.entry import (
    ENTRY_SCHEMA,
    ENTRY_SCHEMAS,
    entry_digest,
    entry_records,
    read_json,
    write_entry,
)
from fedarena.matrix.cell import REFERENCE_ATTACK, Cell
from fedarena.matrix.runner import DEFAULT_LIMITS, MatrixRunner, available_cores, start_session
from fedarena.matrix.store import CellRecord, ResultStore, finite, now
from fedarena.sandbox.limits import Limits
from fedarena.sandbox.process import start_fork_server
from fedarena.scenario.spec import COMPONENT_FIELDS, Scenario

VERIFICATION_SCHEMA = "fedarena.verification/1"
# Per-round values that measure the machine, not the model: never compared.
TIMING_KEYS = frozenset({"seconds"})


@dataclass(frozen=True)
class Rerun:
    """One sampled cell: its label and each value that differs between entry and rerun."""

    key: str
    label: str
    differences: tuple[str, ...]

    @property
    def matched(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class Verification:
    """The reruns of an entry's sample and the record written into the entry."""

    reruns: tuple[Rerun, ...]
    record: dict[str, Any]

    @property
    def matched(self) -> bool:
        return all(r.matched for r in self.reruns)


def read_entry(path: Path) -> dict[str, Any]:
    """The entry at ``path``; a one-line error if it is not one, or carries no source."""
    document = read_json(path)
    schema = document.get("schema")
    if schema not in ENTRY_SCHEMAS:
        raise FedarenaError(f"{path}: not a leaderboard entry (schema {schema!r})")
    if schema != ENTRY_SCHEMA or not isinstance(document.get("source_text"), dict):
        raise FedarenaError(
            f"{path}: source not included ({schema}): resubmit it with fedarena {__version__} "
            "to verify it"
        )
    return document


def sample(records: list[CellRecord], k: int, seed: int) -> list[CellRecord]:
    """``k`` done cells, ordered by a seeded hash of their keys, at least one attacked."""
    if k < 1:
        raise FedarenaError(f"--sample must be >= 1, got {k}")
    done = sorted(
        (r for r in records if r.status == "done"),
        key=lambda r: hashlib.sha256(f"{seed}:{r.key}".encode()).hexdigest(),
    )
    chosen = done[:k]
    attacked = [r for r in done if r.spec.get("attack") != REFERENCE_ATTACK]
    if attacked and not any(r in attacked for r in chosen):
        chosen[-1] = attacked[0]
    return chosen


def write_sources(document: dict[str, Any], folder: Path, path: Path) -> dict[str, Path]:
    """Write each source file's text into ``folder`` after checking it against its SHA-256;
    return where each went."""
    written = {}
    for i, (name, digest) in enumerate(document["manifest"]["sources"].items()):
        text = document["source_text"].get(name)
        if text is None:
            continue  # above the size cap: a plugin cell that needs it fails below
        if hashlib.sha256(text.encode()).hexdigest() != digest:
            raise FedarenaError(f"{path}: the text of {name} does not match its SHA-256")
        target = folder / str(i) / Path(name).name
        target.parent.mkdir(parents=True)
        target.write_text(text)
        written[name] = target.resolve()
    return written


def _source_of(target: str, written: dict[str, Path], path: Path) -> Path:
    """The written copy of the plugin file a spec names (as typed, or as the manifest shows it)."""
    for name, copy in written.items():
        if os.path.normpath(name) == os.path.normpath(target):
            return copy
    same_name = [copy for name, copy in written.items() if Path(name).name == Path(target).name]
    if len(same_name) == 1:
        return same_name[0]
    raise FedarenaError(f"{path}: the cells name {target}, whose source the entry does not hold")


def rewritten_spec(spec: dict[str, Any], written: dict[str, Path], path: Path) -> dict[str, Any]:
    """``spec`` with each plugin file it names replaced by the written copy."""
    rewritten = dict(spec)
    for target in Scenario.from_dict(spec).plugin_files:
        copy = str(_source_of(target, written, path))
        for field in COMPONENT_FIELDS:
            rewritten[field] = str(rewritten[field]).replace(target, copy)
    return rewritten


def differences(entry: dict[str, Any] | None, rerun: dict[str, Any] | None) -> list[str]:
    """Each final metric and per-round value that differs (one sentence each)."""
    if rerun is None:
        return ["the rerun did not finish"]
    entry = entry or {}
    found = []
    final, again = finite(entry.get("final", {})), finite(rerun["final"])
    for metric in sorted(set(final) | set(again)):
        if final.get(metric) != again.get(metric):
            found.append(f"{metric}: entry {final.get(metric)}, rerun {again.get(metric)}")
    rounds, reruns = finite(entry.get("rounds", [])), finite(rerun["rounds"])
    if len(rounds) != len(reruns):
        return [*found, f"rounds: entry {len(rounds)}, rerun {len(reruns)}"]
    for mine, theirs in zip(rounds, reruns, strict=True):
        for metric in sorted((set(mine) | set(theirs)) - TIMING_KEYS):
            if mine.get(metric) != theirs.get(metric):
                found.append(
                    f"round {theirs.get('round')} {metric}: entry {mine.get(metric)}, "
                    f"rerun {theirs.get(metric)}"
                )
    return found


def _rerun(
    cells: list[Cell], folder: Path, workers: int, limits: Limits, on_cell: Callable | None
) -> dict[str, CellRecord]:
    """Run ``cells`` through the matrix runner into a store in ``folder``: records by key."""
    start_fork_server()
    folder.mkdir()
    with ResultStore.in_folder(folder) as store:
        session = start_session(store, "(verify)", "", [], workers, limits, cells)
        MatrixRunner(store, workers, limits, session).run(cells, on_outcome=on_cell)
        return {r.key: r for r in store.records()}


def verify_entry(
    path: Path,
    k: int,
    seed: int = 0,
    workers: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    record: bool = True,
    on_cell: Callable | None = None,
) -> Verification:
    """Rerun a sample of ``k`` of the entry's cells, compare, and (``record``) write the
    verification into the entry."""
    document = read_entry(path)
    records, _ = entry_records(document, path)
    chosen = sample(records, k, seed)
    if not chosen:
        raise FedarenaError(f"{path}: no done cells to rerun")
    with tempfile.TemporaryDirectory(prefix="fedarena-verify-") as scratch:
        written = write_sources(document, Path(scratch) / "source", path)
        cells = [Cell.of(Scenario.from_dict(rewritten_spec(r.spec, written, path))) for r in chosen]
        workers = min(workers or available_cores(), len(cells))
        found = _rerun(cells, Path(scratch) / "results", workers, limits, on_cell)
    reruns = []
    for original, cell in zip(chosen, cells, strict=True):
        again = found.get(cell.key)
        result = again.result if again is not None else None
        problems = differences(original.result, result)
        if again is not None and again.status != "done":
            problems = [f"the rerun {again.status}: {again.reason}"]
        shown = Cell(Scenario.from_dict(original.spec), original.key, original.family, "")
        reruns.append(Rerun(original.key, shown.label, tuple(problems)))
    verification = {
        "schema": VERIFICATION_SCHEMA,
        "entry_sha256": entry_digest(document),
        "matched": all(r.matched for r in reruns),
        "seed": seed,
        "sample": [r.key for r in reruns],
        "mismatches": {r.key: list(r.differences) for r in reruns if not r.matched},
        "version": __version__,
        "machine": platform.machine(),
        "verified_at": now(),
    }
    if record:
        write_entry(path, {**document, "verification": verification})
    return Verification(tuple(reruns), verification)
