"""``fedarena check``: rerun a scenario file and compare every cell with a baseline (the CI
regression gate, ``fedarena.gate``)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fedarena.cli.common import (
    DEFAULT_SCENARIO_FILE,
    MatrixProgress,
    add_cell_flags,
    add_scenario_file,
    check_workers,
    default_or_packaged,
    limits,
)

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "check",
        help="rerun a matrix and compare every cell with a baseline (CI regression gate)",
        description="Run the scenario file's cells afresh and compare each cell's status and "
        "final metrics with the baseline, within the tolerance bands stored in it. Exit status "
        "1 with a table of the cells outside their bands; --update-baseline rewrites it.",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=Path("leaderboard/baseline.json"),
        metavar="FILE",
        help="baseline file (default: leaderboard/baseline.json)",
    )
    add_scenario_file(parser, default=DEFAULT_SCENARIO_FILE)
    add_cell_flags(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="results folder (default: a temporary one, so that every cell is rerun; a folder "
        "holding results already resumes from them)",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="write the rerun as the new baseline instead of comparing",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from fedarena.gate import (
        CHANGE,
        IMPROVEMENT,
        KINDS,
        REGRESSION,
        build_baseline,
        compare,
        read_baseline,
        write_baseline,
    )
    from fedarena.matrix.file import load_matrix
    from fedarena.matrix.runner import run_matrix
    from fedarena.matrix.store import ResultStore

    check_workers(args.workers)
    cell_limits = limits(args.cell_timeout, args.cell_memory)
    baseline = None if args.update_baseline else read_baseline(args.baseline)
    args.scenario = default_or_packaged(args.scenario)
    matrix = load_matrix(args.scenario)
    grids = args.grid or (baseline["grids"] if baseline else matrix.grid_names())
    progress = MatrixProgress(console, args.quiet)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedarena-check-") as scratch:
        out = args.out if args.out is not None else Path(scratch)
        try:
            run_matrix(
                matrix,
                out,
                grids=grids,
                workers=args.workers,
                limits=cell_limits,
                on_start=progress.start,
                on_outcome=progress.cell,
            )
        finally:
            progress.stop()
        keys = {cell.key for cell in matrix.cells(grids)}
        with ResultStore.in_folder(out) as store:
            records = [r for r in store.records() if r.key in keys]
    elapsed = time.perf_counter() - start
    if baseline is None:
        write_baseline(args.baseline, build_baseline(records, args.scenario, matrix.text, grids))
        console.print(
            f"baseline of {len(records)} cells written to {args.baseline} ({elapsed:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )
        return 0
    comparison = compare(baseline, records)
    cells = comparison.cells_by_kind()
    kinds = (
        f" ({cells[REGRESSION]} with a regression, {cells[IMPROVEMENT]} with improvements "
        f"only, {cells[CHANGE]} with other changes)"
        if comparison.outside
        else ""
    )
    summary = (
        f"{comparison.cells} cells: {comparison.identical} identical to the baseline, "
        f"{comparison.within} within their bands, {comparison.outside} outside{kinds}; "
        f"{elapsed:.1f} s"
    )
    if comparison.passed:
        console.print(f"check passed: {summary}", highlight=False, soft_wrap=True)
        return 0
    for kind, heading in KINDS.items():
        rows = comparison.rows(kind)
        if not rows:
            continue
        outside = len({row.cell for row in rows})
        table = Table(title=f"{heading} against {args.baseline} ({outside} cell(s))")
        for column in ("cell", "metric", "baseline", "now", "change", "band"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row.cell, row.metric, row.baseline, row.now, row.moved, row.band)
        console.print(table)
    console.print(
        f"check failed: {summary}. If the change is intended, rerun with --update-baseline "
        "and commit the new baseline.",
        highlight=False,
        soft_wrap=True,
    )
    return 1
