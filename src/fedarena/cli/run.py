"""``fedarena run``: one scenario, its metrics on screen and optionally its result document.

Its flags are generated from the fields of ``fedarena.scenario.spec.Scenario``
(name, type, default, help and choices from the field's metadata): each field
``some_field`` is ``--some-field``, a boolean one ``--some-field`` /
``--no-some-field``, and each component field also takes ``--<field>-opt
KEY=VALUE`` options (a defense chain's go to its last link).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import MISSING, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedarena.cli.common import add_monitoring_flags, check_writable, start_watch
from fedarena.errors import FedarenaError
from fedarena.registry import parse_option
from fedarena.scenario.spec import COMPONENT_FIELDS, Scenario, range_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from fedarena.engine.federation import RoundRecord

_TYPES = {"int": int, "float": float, "str": str, "str | int": str}


def add_scenario_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Scenario field (see the module docstring)."""
    for f in fields(Scenario):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        meta = f.metadata
        if str(f.type) == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=meta["help"]
            )
            continue
        choices = meta["choices"]() if "choices" in meta else None
        if f.name in COMPONENT_FIELDS:
            parser.add_argument(flag, default=str(default), metavar="SPEC", help=meta["help"])
            parser.add_argument(
                f"{flag}-opt",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help=f"{f.name} option (repeatable)"
                + ("; set on the chain's last link" if f.name == "defense" else ""),
            )
            continue
        parser.add_argument(
            flag,
            type=_TYPES[str(f.type)],
            default=default,
            choices=choices,
            help=meta["help"] + range_text(f.name),
        )


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The Scenario the flags describe, ``--<field>-opt`` options merged into their specs."""
    from fedarena.components import parse_spec

    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(Scenario)}
    for name in COMPONENT_FIELDS:
        options = dict(parse_option(o) for o in getattr(args, f"{name}_opt"))
        if options:
            values[name] = parse_spec(name, values[name]).with_options(**options)
    return Scenario(**values)


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "run",
        help="run one scenario and print its metrics",
        description="Train a federated recommender on simulated shoppers and report metrics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_scenario_flags(parser)
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    add_monitoring_flags(parser)
    return parser


def save_result(path: Path, result: dict[str, Any]) -> None:
    """Write the result; if that fails, keep it in a temporary file and say where."""
    from fedarena.io import json_text, write_json_atomic

    try:
        write_json_atomic(path, result, allow_nan=True)
    except OSError as err:
        fd, fallback = tempfile.mkstemp(prefix="fedarena-run-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            handle.write(json_text(result, allow_nan=True))
        raise FedarenaError(
            f"--out: cannot write {path} ({err.strerror}); the result is saved in {fallback}"
        ) from None


def results_table(result: dict[str, Any]) -> Table:
    from rich.table import Table

    from fedarena.metrics import METRIC_KEYS

    table = Table(title="Final metrics (benign shoppers, held-out purchases vs 99 negatives)")
    table.add_column("model")
    for key in METRIC_KEYS:
        table.add_column(key, justify="right")
    rows = {"federated": result["final"], **result["baselines"]}
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[k]:.4f}" for k in METRIC_KEYS))
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from fedarena.scenario.run import run_scenario

    scenario = scenario_from_args(args)
    if args.out is not None:
        check_writable(args.out)
    watch = start_watch(args, console)
    progress = Progress(
        TextColumn("[bold]round {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]}  NDCG@10 {task.fields[ndcg]}"),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
    )
    task = progress.add_task("federated", total=scenario.rounds, loss="-", ndcg="-")

    def on_round(record: RoundRecord) -> None:
        progress.start()  # on the first round only: set-up errors print without a bar
        ndcg = record.metrics.get("ndcg@10")
        progress.update(
            task,
            advance=1,
            loss=f"{record.train_loss:.4f}",
            ndcg=f"{ndcg:.4f}" if ndcg is not None else "-",
        )

    try:
        result = run_scenario(scenario, on_round, observer=watch.round_observer())
    finally:
        progress.stop()
        watch.close()
    if args.out is not None:
        save_result(args.out, result)
    if not args.quiet:
        console.print(results_table(result))
        t = result["timings"]
        console.print(
            f"wall {t['wall_s']:.1f} s (federated {t['federated_s']:.1f} s, "
            f"{t['per_round_s'] * 1000:.0f} ms/round; baselines {t['baselines_s']:.1f} s)"
            + (f"; result written to {args.out}" if args.out else "")
        )
    return 0
