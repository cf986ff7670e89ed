"""``fedarena data inspect``: an Amazon CSV file or folder's load report and statistics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("data", help="catalog tools")
    data_commands = parser.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    inspect = data_commands.add_parser(
        "inspect", help="load an Amazon CSV file or folder and print its load report and statistics"
    )
    inspect.add_argument("path", type=Path, help="a CSV file or a folder of CSV files")
    return parser


def main(args: argparse.Namespace, console: Console) -> int:
    from fedarena.data.amazon import load_amazon
    from fedarena.data.summary import catalog_summary

    catalog, report = load_amazon(args.path)
    console.print(catalog_summary(catalog, report))
    return 0
