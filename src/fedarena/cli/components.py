"""``fedarena list``: the registered attacks, defenses, strategies and compressors."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from fedarena.errors import FedarenaError

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "list",
        help="list the registered attacks, defenses, strategies and compressors",
        description="Every registered component per kind, with its options and where it came "
        "from: a fedarena module, or an entry point of an installed distribution (groups "
        "fedarena.attacks, fedarena.defenses, fedarena.strategies, fedarena.compression).",
    )
    parser.add_argument(
        "kinds",
        nargs="*",
        metavar="KIND",
        help="attack, defense, strategy or compression (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser


def main(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from fedarena.components import components, registries

    unknown = sorted(set(args.kinds) - set(registries()))
    if unknown:
        raise FedarenaError(f"unknown kind {unknown[0]!r}; kinds: {', '.join(registries())}")
    found = components(args.kinds or None)
    if args.json:
        print(json.dumps([c.as_dict() for c in found], indent=1))
        return 0
    for kind in registries():
        rows = [c for c in found if c.kind == kind]
        if not rows:
            continue
        table = Table(title=f"{kind} ({sum(c.active for c in rows)} registered)")
        table.add_column("name", no_wrap=True)
        table.add_column("options")
        table.add_column("origin", overflow="fold")
        for c in rows:
            style = None if c.active else "dim"
            table.add_row(c.name, ", ".join(c.options) or "-", c.origin, style=style)
        console.print(table)
    return 0
