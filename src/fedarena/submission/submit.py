"""Submit a defense: conformance checks, then the matrix's cells with it, then an entry.

The cells of a submission are those of the chosen scenario file (and grids)
with the defense axis replaced by two values: the submitted defense and the
undefended ``fedavg``. With the references the expansion adds (the clean
twin, attack ``none``, and the reference, attack ``none`` with ``fedavg``),
the entry is self-contained: it ranks the defense against no defense under
the same attacks, and merges with a full matrix's results (same specs, same
keys) to rank it beside every other defense. Cells run like any matrix's,
each in a limited process into a results store (a rerun resumes), and the
entry (``fedarena.leaderboard.entry``) is written from the store, with the text
of the defense's source files (so that ``fedarena verify`` can rerun its cells
from the entry alone) and the default runtime budget beside the one used (so
that the leaderboard shows an override).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fedarena.components import spec_problem
from fedarena.defenses import DefenseSpec
from fedarena.errors import SpecError
from fedarena.leaderboard.entry import entry_document, read_source_text, write_entry
from fedarena.matrix.cell import REFERENCE_DEFENSE, Cell
from fedarena.matrix.file import Matrix
from fedarena.matrix.runner import DEFAULT_LIMITS, Counts, run_matrix
from fedarena.matrix.store import ResultStore
from fedarena.sandbox.limits import Limits, Outcome
from fedarena.submission.budget import CHECK_LIMITS, RUNTIME_BUDGET_S
from fedarena.submission.conformance import (
    CheckResult,
    ConformanceReport,
    check_conformance,
)


def entry_name(spec: DefenseSpec) -> str:
    """A file name for a spec's entry, from its last link: ``norm_clip > x.py:NormTrim(f=2)``
    -> ``normtrim-f-2``."""
    component = spec.links[-1]
    name = component.name.rpartition(":")[2]
    options = "-".join(f"{k}-{v}" for k, v in sorted(component.options.items()))
    return re.sub(r"[^a-z0-9]+", "-", f"{name}-{options}".lower()).strip("-") or "defense"


def submission_matrix(matrix: Matrix, spec: DefenseSpec) -> Matrix:
    """The matrix with every grid's defense axis replaced by ``[spec, fedavg]``."""
    defenses = list(dict.fromkeys([str(spec), REFERENCE_DEFENSE]))
    grids = tuple(replace(g, axes={**g.axes, "defense": defenses}) for g in matrix.grids)
    return replace(matrix, grids=grids)


@dataclass(frozen=True)
class Submission:
    """What a submission did: its conformance report and, if that passed, its cells."""

    report: ConformanceReport
    counts: Counts | None = None
    entry: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.report.passed and self.counts is not None and not self.counts.failed


def submit(
    spec: DefenseSpec,
    matrix: Matrix,
    out: Path,
    entry_path: Path | None,
    *,
    grids: Sequence[str] | None = None,
    workers: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    check_limits: Limits = CHECK_LIMITS,
    budget_s: float = RUNTIME_BUDGET_S,
    on_check: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[Counts], None] | None = None,
    on_outcome: Callable[[Cell, Outcome, Counts], None] | None = None,
) -> Submission:
    """Check ``spec``; if it conforms and ``entry_path`` is given, run its cells into ``out``
    and write the entry there. A spec the registry rejects by name or option is a
    ``SpecError`` before anything runs."""
    problem = spec_problem("defense", spec)
    if problem is not None:
        raise SpecError(f"defense {str(spec)!r}: {problem}")
    for target in spec.plugin_files:
        if not Path(target).is_file():
            raise SpecError(f"defense {str(spec)!r}: file {target} does not exist")
    cells_matrix = submission_matrix(matrix, spec)
    cells = cells_matrix.cells(grids)  # an unknown grid fails here, before the checks
    report = check_conformance(spec, check_limits, budget_s, on_check)
    if not report.passed or entry_path is None:
        return Submission(report)
    counts = run_matrix(
        cells_matrix,
        out,
        grids=grids,
        workers=workers,
        limits=limits,
        on_start=on_start,
        on_outcome=on_outcome,
    )
    keys = {cell.key for cell in cells}
    with ResultStore.in_folder(out) as store:
        records = [r for r in store.records() if r.key in keys]
        sessions = {r.session for r in records}
        runs = [s for s in store.sessions() if s["id"] in sessions]
    matrix_info = {
        "path": str(matrix.path),
        "sha256": hashlib.sha256(matrix.text.encode()).hexdigest(),
        "grids": list(grids or matrix.grid_names()),
        "results": str(out),
    }
    conformance = {**report.as_dict(), "default_budget_s": RUNTIME_BUDGET_S}
    document = entry_document(
        str(spec),
        records,
        runs,
        conformance,
        report.sources,
        matrix_info,
        read_source_text(report.sources),
    )
    write_entry(entry_path, document)
    return Submission(report, counts, document)
