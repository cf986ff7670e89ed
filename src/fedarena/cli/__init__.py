"""Command-line interface: ``fedarena run``, ``matrix``, ``leaderboard``, ``submit``, ``check``,
``export``, ``list`` and ``data inspect``, one module per command.

User errors (bad flags, files, specs) print one line and exit with status 2;
Ctrl-C exits with 130. As a last resort, an ``OSError`` that the machine rather
than the code causes (a full disk, a read-only or forbidden path, a name too
long) is one line naming the file, exit status 2, too; any other error is a bug
and keeps its traceback. Each command module imports what it runs only when it
runs, so ``fedarena --help`` stays quick.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from fedarena.cli import check, components, data, export, leaderboard, matrix, run, submit

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
COMMANDS = (run, matrix, leaderboard, submit, check, export, components, data)
# The errnos of an OSError that is the machine's or the user's doing, not a bug.
MACHINE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG}
)


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

    from fedarena.errors import FedarenaError, shown_path

    try:
        return args.handler(args, Console())
    except FedarenaError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fedarena: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        if err.errno not in MACHINE_ERRNOS:
            raise
        where = f"{shown_path(err.filename)}: " if err.filename else ""
        print(f"fedarena: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fedarena: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
