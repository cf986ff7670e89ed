"""``fedarena matrix``: every cell of a scenario file into a results store (resumes)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fedarena.cli.common import (
    Deprecated,
    MatrixProgress,
    add_cell_flags,
    add_monitoring_flags,
    add_scenario_file,
    check_workers,
    limits,
    scenario_file,
    start_watch,
)
from fedarena.errors import FedarenaError

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "matrix",
        help="run every cell of a scenario file into a results store (resumes)",
        description="Expand a TOML scenario file into cells and run them in parallel worker "
        "processes, each with a time and memory limit, into DIR/results.sqlite; a rerun skips "
        "the cells already done. Exit status 1 when a cell failed.",
    )
    add_scenario_file(parser, default=None)
    parser.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=None,
        metavar="FILE",
        action=Deprecated,
        new="--scenario FILE",
        help="deprecated spelling of --scenario FILE",
    )
    add_cell_flags(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: results/<scenario file name>)",
    )
    parser.add_argument(
        "--skip-unknown",
        action="store_true",
        help="record cells naming an unregistered component as skipped instead of refusing "
        "(an invalid option of a registered one is always refused)",
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where cells run: local worker processes (default), or Ray tasks on a cluster "
        "(see docs/cluster.md)",
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="auto|HOST:PORT",
        help="with --backend ray: the Ray cluster to run on (default: start a Ray on this "
        "machine with --workers CPUs for the run)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    add_monitoring_flags(parser)
    return parser


def main(args: argparse.Namespace, console: Console) -> int:
    from fedarena.matrix.file import load_matrix
    from fedarena.matrix.runner import run_matrix
    from fedarena.matrix.store import STORE_NAME

    if args.scenario is None:
        args.scenario = args.file
    path = scenario_file(args)
    check_workers(args.workers)
    if args.address is not None and args.backend != "ray":
        raise FedarenaError("--address: only with --backend ray")
    cell_limits = limits(args.cell_timeout, args.cell_memory)
    matrix = load_matrix(path)
    out = args.out if args.out is not None else Path("results") / path.stem
    watch = start_watch(args, console, name=str(path))
    progress = MatrixProgress(console, args.quiet)
    start = time.perf_counter()
    try:
        counts = run_matrix(
            matrix,
            out,
            grids=args.grid,
            workers=args.workers,
            limits=cell_limits,
            skip_unknown=args.skip_unknown,
            on_start=progress.start,
            on_outcome=progress.cell,
            monitor=watch.monitor,
            backend=args.backend,
            address=args.address,
        )
    finally:
        progress.stop()
        watch.close()
    if not args.quiet:
        console.print(
            f"{counts.total} cells: {counts.done} done, {counts.failed} failed, "
            f"{counts.skipped} skipped, {counts.resumed} already done; "
            f"{time.perf_counter() - start:.1f} s; results in {out / STORE_NAME} "
            f"(exported to cells.csv and cells.json)"
        )
    return 1 if counts.failed else 0
