"""``fedarena leaderboard``: rank defenses from matrix results and write md/json/csv/html/png."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fedarena.errors import FedarenaError

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "leaderboard",
        help="rank defenses from matrix results and write md/json/csv/html/png",
        description="Score the cells of one or more matrix output folders (or cells.json "
        "exports, or entries written by fedarena submit) and write LEADERBOARD.md, "
        "leaderboard.json, leaderboard.csv, index.html, cells.csv and PNG figures.",
    )
    parser.add_argument(
        "sources",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="matrix output folder, cells.json or a submitted entry",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: the first DIR)"
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="also rewrite the runs table between <!-- matrix-runs:start/end --> in this file",
    )
    return parser


def main(args: argparse.Namespace, console: Console) -> int:
    from fedarena.leaderboard import build_leaderboard

    out = args.out if args.out is not None else args.sources[0]
    if out.is_file():
        raise FedarenaError(f"--out: {out} is a file, expected a folder")
    document = build_leaderboard(args.sources, out, doc=args.doc)
    for notice in document["notices"]:
        print(f"fedarena: notice: {notice}", file=sys.stderr)
    console.print(
        f"ranked {len(document['cells'])} cells in {len(document['panels'])} panel(s); "
        f"wrote {out / 'LEADERBOARD.md'}, leaderboard.json, index.html and the figures"
    )
    return 0
