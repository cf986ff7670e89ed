"""``fedarena verify``: rerun a sample of a leaderboard entry's cells and compare."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fedarena.cli.common import add_limit_flags, check_workers, limits

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_SAMPLE = 3


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "verify",
        help="rerun a sample of a leaderboard entry's cells from its source and compare",
        description="Write the source files an entry carries into a scratch folder (checked "
        "against their SHA-256), rerun a deterministic sample of its cells (at least one "
        "attacked) as a matrix would, and compare each rerun's metrics with the entry's, "
        "exactly. The outcome is recorded in the entry, which the leaderboard then shows as "
        "verified. Exit status 0 when every rerun matches, 1 when one differs, 2 for a file "
        "that is not an entry with its source.",
    )
    parser.add_argument("entry", type=Path, metavar="ENTRY", help="a fedarena submit entry")
    parser.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        metavar="K",
        help=f"cells to rerun (default: {DEFAULT_SAMPLE})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of the sample (default: 0)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N", help="parallel cells (default: K)"
    )
    add_limit_flags(parser)
    parser.add_argument(
        "--no-record", action="store_true", help="compare only: leave the entry unchanged"
    )
    return parser


def main(args: argparse.Namespace, console: Console) -> int:
    from fedarena.submission.verify import verify_entry

    check_workers(args.workers)
    outcome = verify_entry(
        args.entry,
        args.sample,
        args.seed,
        args.workers,
        limits(args.cell_timeout, args.cell_memory),
        record=not args.no_record,
    )
    for rerun in outcome.reruns:
        status = "[green]match[/]  " if rerun.matched else "[red]DIFFERS[/]"
        console.print(f"{status} {rerun.label}", highlight=False, soft_wrap=True)
        for difference in rerun.differences:
            console.print(f"  {difference}", highlight=False, soft_wrap=True, markup=False)
    matched = sum(r.matched for r in outcome.reruns)
    where = "" if args.no_record else f"; recorded in {args.entry}"
    console.print(
        f"{matched} of {len(outcome.reruns)} reruns match the entry{where}",
        highlight=False,
        soft_wrap=True,
    )
    return 0 if outcome.matched else 1
