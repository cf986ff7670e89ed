"""Command-line interface: ``fedarena run``, ``matrix``, ``leaderboard``, ``submit``, ``check``,
``verify``, ``export``, ``list`` and ``data inspect``, one module per command.

User errors (bad flags, files, specs) print one line and exit with status 2;
Ctrl-C exits with 130. As a last resort, an ``OSError`` that the machine rather
than the code causes (a full disk, a read-only or forbidden path, a name too
long) is one line naming the file, exit status 2, too; any other error is a bug
and keeps its traceback. Each command module imports what it runs only when it
runs, and flags that need torch to be known (``run``'s) are added only when that
command parses (``LazyParser``), so ``fedarena --help`` stays quick.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
import time
from collections.abc import Sequence

from fedarena import __version__
from fedarena.cli.common import LazyParser, make_console
from fedarena.errors import FedarenaError, shown_path

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# The modules of fedarena.cli, one per command, imported by build_parser: inside a command's
# wall time.
COMMANDS = (
    "run",
    "matrix",
    "leaderboard",
    "submit",
    "verify",
    "check",
    "export",
    "components",
    "data",
)
# The errnos of an OSError that is the machine's or the user's doing, not a bug.
MACHINE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG}
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each command's is a ``LazyParser``, whose costly flags are
    added only when that command is the one parsed."""
    parser = argparse.ArgumentParser(
        prog="fedarena",
        description="Attacks x defenses x strategies on a non-IID federated recommender.",
    )
    parser.add_argument("--version", action="version", version=f"fedarena {__version__}")
    subcommands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=LazyParser
    )
    for name in COMMANDS:
        command = importlib.import_module(f"fedarena.cli.{name}")
        command.add_parser(subcommands).set_defaults(handler=command.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names; ``args.started`` is when (a command's wall time)."""
    started = argparse.Namespace(started=time.perf_counter())
    try:
        # Inside: a command's flags may read a file (``run --config``) as they are added.
        args = build_parser().parse_args(argv, namespace=started)
        return args.handler(args, make_console())
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
