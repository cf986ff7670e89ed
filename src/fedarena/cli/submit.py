"""``fedarena submit``: a defense's conformance checks, its matrix cells and a leaderboard
entry."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fedarena.cli.common import (
    DEFAULT_SCENARIO_FILE,
    Deprecated,
    MatrixProgress,
    add_cell_flags,
    add_scenario_file,
    check_workers,
    check_writable,
    default_or_packaged,
    limits,
)
from fedarena.errors import FedarenaError
from fedarena.submission.budget import CHECK_LIMITS, RUNTIME_BUDGET_S

if TYPE_CHECKING:
    from rich.console import Console

    from fedarena.submission.conformance import CheckResult


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "submit",
        help="check a defense's conformance, run it across a matrix and write an entry",
        description="Run the conformance checks on a defense spec (each in a process with time "
        "and memory limits), then run the scenario file's cells with the defense axis replaced "
        "by SPEC and fedavg, and write a leaderboard entry with its manifest. Exit status 1 "
        "when a check or a cell failed.",
    )
    parser.add_argument(
        "spec", help="defense spec: path/to/file.py:Class, package.module:Class or a name"
    )
    add_scenario_file(parser, default=DEFAULT_SCENARIO_FILE)
    parser.add_argument(
        "--matrix",
        type=Path,
        dest="scenario",
        metavar="FILE",
        action=Deprecated,
        new="--scenario FILE",
        help="deprecated spelling of --scenario",
    )
    add_cell_flags(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="results folder of the cells (default: results/<scenario file name>, so the "
        "matrix's own results are shared)",
    )
    parser.add_argument(
        "--entry",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write the entry (default: submissions/<defense>.json)",
    )
    parser.add_argument(
        "--check-timeout",
        type=float,
        default=CHECK_LIMITS.seconds,
        metavar="S",
        help=f"wall-clock seconds per conformance check (default: {CHECK_LIMITS.seconds:g})",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=RUNTIME_BUDGET_S,
        metavar="S",
        help=f"runtime budget of one aggregate call at n=100, d=1e5 (default: "
        f"{RUNTIME_BUDGET_S:g})",
    )
    parser.add_argument(
        "--checks-only", action="store_true", help="run the conformance checks and stop"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _print_check(console: Console, result: CheckResult) -> None:
    colour = {"pass": "green", "FAIL": "red"}.get(result.status, "yellow")
    console.print(
        f"[{colour}]{result.status:<7}[/] {result.name}: {result.detail}",
        soft_wrap=True,
        highlight=False,
        markup=True,
    )


def main(args: argparse.Namespace, console: Console) -> int:
    from fedarena.components import parse_spec
    from fedarena.matrix.file import load_matrix
    from fedarena.matrix.store import STORE_NAME
    from fedarena.submission.submit import entry_name, submit

    spec = parse_spec("defense", args.spec)  # once: everything after uses this value
    check_workers(args.workers)
    cell_limits = limits(args.cell_timeout, args.cell_memory)
    check_limits = limits(
        args.check_timeout, args.cell_memory, ("--check-timeout", "--cell-memory")
    )
    if not args.budget > 0:
        raise FedarenaError(f"--budget must be > 0 seconds, got {args.budget}")
    args.scenario = default_or_packaged(args.scenario)
    matrix = load_matrix(args.scenario)
    out = args.out if args.out is not None else Path("results") / args.scenario.stem
    entry = None
    if not args.checks_only:
        entry = args.entry or Path("submissions") / f"{entry_name(spec)}.json"
        check_writable(entry, "--entry")
    console.print(f"conformance of {spec}:", highlight=False, soft_wrap=True)
    progress = MatrixProgress(console, args.quiet)
    try:
        outcome = submit(
            spec,
            matrix,
            out,
            entry,
            grids=args.grid,
            workers=args.workers,
            limits=cell_limits,
            check_limits=check_limits,
            budget_s=args.budget,
            on_check=lambda result: _print_check(console, result),
            on_start=progress.start,
            on_outcome=progress.cell,
        )
    finally:
        progress.stop()
    report = outcome.report
    if not report.passed:
        console.print(
            f"{len(report.failures)} check(s) failed: nothing was run and no entry written",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    if entry is None:
        console.print("every check passed", highlight=False)
        return 0
    counts = outcome.entry["manifest"]["counts"]
    console.print(
        f"entry written to {entry}: {sum(counts.values())} cells ({counts['done']} done, "
        f"{counts['failed']} failed, {counts['skipped']} skipped) in {out / STORE_NAME}; "
        f"rank it with: fedarena leaderboard {entry}",
        highlight=False,
        soft_wrap=True,
    )
    return 0 if outcome.succeeded else 1
