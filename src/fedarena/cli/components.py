"""``fedarena list``: the registered attacks, defenses, strategies and compressors, each with
a one-line description and its options' defaults."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from fedarena.errors import FedarenaError

if TYPE_CHECKING:
    from rich.console import Console

    from fedarena.components import Component

KINDS = ("attack", "defense", "strategy", "compression")
# What a user may type for a kind: its name or its plural.
SPELLINGS = {
    **{kind: kind for kind in KINDS},
    "attacks": "attack",
    "defenses": "defense",
    "strategies": "strategy",
    "compressions": "compression",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "list",
        help="list the registered attacks, defenses, strategies and compressors",
        description="Every registered component per kind, with what it is, its options and "
        "their defaults, and where it came from: a fedarena module, or an entry point of an "
        "installed distribution (groups fedarena.attacks, fedarena.defenses, "
        "fedarena.strategies, fedarena.compression).",
    )
    parser.add_argument(
        "kinds",
        nargs="*",
        metavar="KIND",
        help="attack(s), defense(s), strategy/strategies or compression(s) (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser


def kinds_of(words: list[str]) -> list[str]:
    """The kinds ``words`` name, singular or plural; an unknown word is a one-line error."""
    unknown = [w for w in words if w not in SPELLINGS]
    if unknown:
        raise FedarenaError(f"unknown kind {unknown[0]!r}; kinds: {', '.join(KINDS)}")
    return list(dict.fromkeys(SPELLINGS[w] for w in words))


def described(component: Component) -> dict[str, Any]:
    """``component.as_dict()`` with its description and each option's default (a loaded
    component only: an ignored or broken entry point has neither)."""
    from fedarena.components import registries
    from fedarena.registry import option_defaults, summary

    found: dict[str, Any] = {**component.as_dict(), "description": "", "defaults": {}}
    if component.active:
        registry = registries()[component.kind]
        factory = registry.factory(component.name)
        found["description"] = summary(factory)
        found["defaults"] = option_defaults(factory)
    return found


def options_text(component: dict[str, Any]) -> str:
    """``beta=0.1, f=required, report_examples``: options with their defaults; an option every
    component of the kind takes (``report_examples``) has no default of its own."""
    defaults = component["defaults"]
    return (
        ", ".join(f"{o}={defaults[o]}" if o in defaults else o for o in component["options"]) or "-"
    )


def main(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from fedarena.components import components

    kinds = kinds_of(args.kinds)
    found = [described(c) for c in components(kinds or None)]
    if args.json:
        print(json.dumps(found, indent=1))
        return 0
    for kind in KINDS:
        rows = [c for c in found if c["kind"] == kind]
        if not rows:
            continue
        table = Table(title=f"{kind} ({sum(c['active'] for c in rows)} registered)")
        table.add_column("name", no_wrap=True)
        table.add_column("what it is")
        table.add_column("options (default)")
        table.add_column("origin", overflow="fold")
        for c in rows:
            style = None if c["active"] else "dim"
            table.add_row(c["name"], c["description"], options_text(c), c["origin"], style=style)
        console.print(table)
    return 0
