"""Command-line interface: ``fedarena run``, ``matrix``, ``leaderboard``, ``submit``, ``check``,
``export``, ``list`` and ``data inspect``, one module per command.

User errors (bad flags, files, specs) print one line and exit with status 2;
Ctrl-C exits with 130. Each command module imports what it runs only when it
runs, so ``fedarena --help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fedarena.cli import check, components, data, export, leaderboard, matrix, run, submit

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
COMMANDS = (run, matrix, leaderboard, submit, check, export, components, data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedarena",
        description="Attacks x defenses x strategies on a non-IID federated recommender.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subcommands).set_defaults(handler=command.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported here: rich and the errors are needed only once a command runs.
    from rich.console import Console

    from fedarena.errors import FedarenaError

    try:
        return args.handler(args, Console())
    except FedarenaError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fedarena: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fedarena: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
