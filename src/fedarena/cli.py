"""Command-line interface: ``fedarena run``, ``matrix``, ``leaderboard``, ``submit``, ``check``,
``list`` and ``data inspect``.

User errors (bad flags, files, specs) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from fedarena.errors import FedarenaError, SpecError
from fedarena.metrics import METRIC_KEYS
from fedarena.registry import ComponentSpec, parse_component, parse_option
from fedarena.scenarios.cell_process import Limits, Outcome
from fedarena.scenarios.spec import ENGINES, Scenario
from fedarena.scenarios.store import STORE_NAME, ResultStore
from fedarena.submission.conformance import CHECK_LIMITS, RUNTIME_BUDGET_S, CheckResult

if TYPE_CHECKING:
    from fedarena.engine.federation import RoundRecord
    from fedarena.scenarios.cell import Cell
    from fedarena.scenarios.runner import Counts

EXIT_USAGE = 2


def _with_options(spec: str, options: list[str]) -> str:
    """Merge ``--x-opt key=value`` flags into a component spec string."""
    parsed = parse_component(spec)
    extra = dict(parse_option(o) for o in options)
    return str(ComponentSpec(parsed.name, {**parsed.options, **extra}))


def _add_run_parser(commands: argparse._SubParsersAction) -> None:
    defaults = {f.name: f.default for f in fields(Scenario)}
    run = commands.add_parser(
        "run",
        help="run one scenario and print its metrics",
        description="Train a federated recommender on simulated shoppers and report metrics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--seed", type=int, default=defaults["seed"], help="random seed")
    run.add_argument("--rounds", type=int, default=defaults["rounds"], help="federated rounds")
    run.add_argument(
        "--clients-per-round",
        type=int,
        default=defaults["clients_per_round"],
        help="shoppers sampled per round",
    )
    run.add_argument(
        "--shoppers", type=int, default=defaults["shoppers"], help="shoppers simulated"
    )
    run.add_argument(
        "--alpha",
        type=float,
        default=defaults["alpha"],
        help="Dirichlet concentration of category affinities (small = more non-IID)",
    )
    run.add_argument(
        "--catalog",
        default=defaults["catalog"],
        help="'builtin' or a path to an Amazon 2023 CSV file or folder",
    )
    run.add_argument(
        "--items",
        type=int,
        default=defaults["items"],
        help="catalog size (built-in) or items sampled from an Amazon catalog",
    )
    run.add_argument("--dim", type=int, default=defaults["dim"], help="embedding dimension")
    run.add_argument(
        "--engine",
        choices=ENGINES,
        default=defaults["engine"],
        help="vectorised or sequential (in-process), or flower (a Flower federation in Flower's "
        "simulation runtime; FLWR_LOG_LEVEL=INFO shows Flower's own logs)",
    )
    run.add_argument("--attack", default=defaults["attack"], help="attack spec, e.g. label_flip")
    run.add_argument(
        "--attack-opt", action="append", default=[], metavar="KEY=VALUE", help="attack option"
    )
    run.add_argument(
        "--malicious-fraction",
        type=float,
        default=defaults["malicious_fraction"],
        help="share of shoppers that are malicious, in [0, 0.5)",
    )
    run.add_argument(
        "--defense",
        default=defaults["defense"],
        help="defense spec, e.g. 'norm_clip(max_norm=2) > krum'",
    )
    run.add_argument("--strategy", default=defaults["strategy"], help="strategy spec")
    run.add_argument(
        "--compression",
        default=defaults["compression"],
        help="update compression spec, e.g. 'topk(ratio=0.1)'",
    )
    run.add_argument(
        "--strategy-opt", action="append", default=[], metavar="KEY=VALUE", help="strategy option"
    )
    run.add_argument("--local-epochs", type=int, default=defaults["local_epochs"])
    run.add_argument("--batch-size", type=int, default=defaults["batch_size"])
    run.add_argument("--local-lr", type=float, default=defaults["local_lr"])
    run.add_argument("--local-optimizer", default=defaults["local_optimizer"])
    run.add_argument(
        "--negatives-per-positive", type=int, default=defaults["negatives_per_positive"]
    )
    run.add_argument(
        "--eval-every", type=int, default=defaults["eval_every"], help="evaluate every N rounds"
    )
    run.add_argument(
        "--no-baselines", action="store_true", help="skip popularity/local/centralised"
    )
    run.add_argument("--out", type=Path, help="write the JSON result here")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no table")


def _add_cell_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every command that runs matrix cells takes: workers, grids and limits."""
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="parallel cells (default: one per core)",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this [[grid]] (repeatable; default: every grid)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=Limits.seconds,
        metavar="S",
        help=f"wall-clock seconds per cell (default: {Limits.seconds:g})",
    )
    parser.add_argument(
        "--cell-memory",
        type=int,
        default=Limits.memory_mb,
        metavar="MIB",
        help=f"address space per cell in MiB (default: {Limits.memory_mb})",
    )


def _add_matrix_parser(commands: argparse._SubParsersAction) -> None:
    matrix = commands.add_parser(
        "matrix",
        help="run every cell of a scenario file into a results store (resumes)",
        description="Expand a TOML scenario file into cells and run them in parallel worker "
        "processes, each with a time and memory limit, into DIR/results.sqlite; a rerun skips "
        "the cells already done. Exit status 1 when a cell failed.",
    )
    matrix.add_argument("file", type=Path, help="scenario file, e.g. scenarios/smoke.toml")
    _add_cell_flags(matrix)
    matrix.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: results/<file name>)",
    )
    matrix.add_argument(
        "--skip-unknown",
        action="store_true",
        help="record cells naming an unregistered component as skipped instead of refusing",
    )
    matrix.add_argument("--quiet", action="store_true", help="no progress bar, no summary")


def _add_leaderboard_parser(commands: argparse._SubParsersAction) -> None:
    board = commands.add_parser(
        "leaderboard",
        help="rank defenses from matrix results and write md/json/csv/html/png",
        description="Score the cells of one or more matrix output folders (or cells.json "
        "exports, or entries written by fedarena submit) and write LEADERBOARD.md, "
        "leaderboard.json, leaderboard.csv, index.html, cells.csv and PNG figures.",
    )
    board.add_argument(
        "sources",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="matrix output folder, cells.json or a submitted entry",
    )
    board.add_argument(
        "--out", type=Path, default=None, help="output folder (default: the first DIR)"
    )
    board.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="also rewrite the runs table between <!-- matrix-runs:start/end --> in this file",
    )


def _add_list_parser(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser(
        "list",
        help="list the registered attacks, defenses, strategies and compressors",
        description="Every registered component per kind, with its options and where it came "
        "from: a fedarena module, or an entry point of an installed distribution (groups "
        "fedarena.attacks, fedarena.defenses, fedarena.strategies, fedarena.compression).",
    )
    listing.add_argument(
        "kinds",
        nargs="*",
        metavar="KIND",
        help="attack, defense, strategy or compression (default: all)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _add_submit_parser(commands: argparse._SubParsersAction) -> None:
    submit = commands.add_parser(
        "submit",
        help="check a defense's conformance, run it across a matrix and write an entry",
        description="Run the conformance checks on a defense spec (each in a process with time "
        "and memory limits), then run the scenario file's cells with the defense axis replaced "
        "by SPEC and fedavg, and write a leaderboard entry with its manifest. Exit status 1 "
        "when a check or a cell failed.",
    )
    submit.add_argument(
        "spec", help="defense spec: path/to/file.py:Class, package.module:Class or a name"
    )
    submit.add_argument(
        "--matrix",
        type=Path,
        default=Path("scenarios/smoke.toml"),
        metavar="FILE",
        help="scenario file whose cells to run (default: scenarios/smoke.toml)",
    )
    _add_cell_flags(submit)
    submit.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="results folder of the cells (default: results/<matrix file name>, so the "
        "matrix's own results are shared)",
    )
    submit.add_argument(
        "--entry",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write the entry (default: submissions/<defense>.json)",
    )
    submit.add_argument(
        "--check-timeout",
        type=float,
        default=CHECK_LIMITS.seconds,
        metavar="S",
        help=f"wall-clock seconds per conformance check (default: {CHECK_LIMITS.seconds:g})",
    )
    submit.add_argument(
        "--budget",
        type=float,
        default=RUNTIME_BUDGET_S,
        metavar="S",
        help=f"runtime budget of one aggregate call at n=100, d=1e5 (default: "
        f"{RUNTIME_BUDGET_S:g})",
    )
    submit.add_argument(
        "--checks-only", action="store_true", help="run the conformance checks and stop"
    )
    submit.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_check_parser(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check",
        help="rerun a matrix and compare every cell with a baseline (CI regression gate)",
        description="Run the scenario file's cells afresh and compare each cell's status and "
        "final metrics with the baseline, within the tolerance bands stored in it. Exit status "
        "1 with a table of the cells outside their bands; --update-baseline rewrites it.",
    )
    check.add_argument(
        "--baseline",
        type=Path,
        default=Path("leaderboard/baseline.json"),
        metavar="FILE",
        help="baseline file (default: leaderboard/baseline.json)",
    )
    check.add_argument(
        "--scenario",
        type=Path,
        default=Path("scenarios/smoke.toml"),
        metavar="FILE",
        help="scenario file to rerun (default: scenarios/smoke.toml)",
    )
    _add_cell_flags(check)
    check.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="results folder (default: a temporary one, so that every cell is rerun; a folder "
        "holding results already resumes from them)",
    )
    check.add_argument(
        "--update-baseline",
        action="store_true",
        help="write the rerun as the new baseline instead of comparing",
    )
    check.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedarena",
        description="Attacks x defenses x strategies on a non-IID federated recommender.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parser(commands)
    _add_matrix_parser(commands)
    _add_leaderboard_parser(commands)
    _add_submit_parser(commands)
    _add_check_parser(commands)
    _add_list_parser(commands)
    data = commands.add_parser("data", help="catalog tools")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    inspect = data_commands.add_parser(
        "inspect", help="load an Amazon CSV file or folder and print its load report and statistics"
    )
    inspect.add_argument("path", type=Path, help="a CSV file or a folder of CSV files")
    return parser


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    return Scenario(
        seed=args.seed,
        rounds=args.rounds,
        clients_per_round=args.clients_per_round,
        shoppers=args.shoppers,
        alpha=args.alpha,
        catalog=args.catalog,
        items=args.items,
        dim=args.dim,
        engine=args.engine,
        attack=_with_options(args.attack, args.attack_opt),
        malicious_fraction=args.malicious_fraction,
        defense=args.defense,
        strategy=_with_options(args.strategy, args.strategy_opt),
        compression=args.compression,
        local_epochs=args.local_epochs,
        batch_size=args.batch_size,
        local_lr=args.local_lr,
        local_optimizer=args.local_optimizer,
        negatives_per_positive=args.negatives_per_positive,
        eval_every=args.eval_every,
        baselines=not args.no_baselines,
    )


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` so that ``path`` holds either the old or the whole new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_writable(path: Path) -> None:
    """Refuse an output path that cannot be written before spending time on a run."""
    if path.is_dir():
        raise FedarenaError(f"--out: {path} is a folder, expected a file name")
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise FedarenaError(f"--out: {folder} is a file, not a folder")
            if not os.access(folder, os.W_OK):
                raise FedarenaError(f"--out: folder {folder} is not writable")
            return


def _save_result(path: Path, result: dict[str, Any]) -> None:
    """Write the result; if that fails, keep it in a temporary file and say where."""
    try:
        write_json_atomic(path, result)
    except OSError as err:
        fd, fallback = tempfile.mkstemp(prefix="fedarena-run-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(result, handle, indent=2)
        raise FedarenaError(
            f"--out: cannot write {path} ({err.strerror}); the result is saved in {fallback}"
        ) from None


def _results_table(result: dict[str, Any]) -> Table:
    table = Table(title="Final metrics (benign shoppers, held-out purchases vs 99 negatives)")
    table.add_column("model")
    for key in METRIC_KEYS:
        table.add_column(key, justify="right")
    rows = {"federated": result["final"], **result["baselines"]}
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[k]:.4f}" for k in METRIC_KEYS))
    return table


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from fedarena.scenarios.run import run_scenario

    scenario = scenario_from_args(args)
    if args.out is not None:
        _check_writable(args.out)
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
        result = run_scenario(scenario, on_round)
    finally:
        progress.stop()
    if args.out is not None:
        _save_result(args.out, result)
    if not args.quiet:
        console.print(_results_table(result))
        t = result["timings"]
        console.print(
            f"wall {t['wall_s']:.1f} s (federated {t['federated_s']:.1f} s, "
            f"{t['per_round_s'] * 1000:.0f} ms/round; baselines {t['baselines_s']:.1f} s)"
            + (f"; result written to {args.out}" if args.out else "")
        )
    return 0


class MatrixProgress:
    """Rich progress for a matrix: a bar with done, failed, skipped, remaining and the ETA."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]cells"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "done {task.fields[done]}  [red]failed {task.fields[failed]}[/]  "
                "skipped {task.fields[skipped]}  remaining {task.fields[remaining]}"
            ),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet,
        )
        self.task = self.progress.add_task("matrix", total=None, start=False, **self._fields(None))
        self.started = False

    @staticmethod
    def _fields(counts: Counts | None) -> dict[str, int]:
        keys = ("done", "failed", "skipped", "remaining")
        return {k: 0 for k in keys} if counts is None else {k: counts.as_dict()[k] for k in keys}

    def start(self, counts: Counts) -> None:
        self.started = True
        self.progress.start()
        self.progress.update(
            self.task,
            total=counts.total,
            completed=counts.resumed,
            **self._fields(counts),
        )
        self.progress.start_task(self.task)

    def stop(self) -> None:
        """End the display if it was started (a display never started prints nothing)."""
        if self.started:
            self.progress.stop()

    def cell(self, cell: Cell, outcome: Outcome, counts: Counts) -> None:
        if outcome.status == "failed":
            self.progress.console.print(f"[red]failed[/] {cell.label}: {outcome.reason}")
        self.progress.update(self.task, advance=1, **self._fields(counts))


def cmd_matrix(args: argparse.Namespace, console: Console) -> int:
    from fedarena.scenarios.matrix import load_matrix
    from fedarena.scenarios.runner import run_matrix

    _check_workers(args.workers)
    limits = _limits(args.cell_timeout, args.cell_memory)
    matrix = load_matrix(args.file)
    out = args.out if args.out is not None else Path("results") / args.file.stem
    progress = MatrixProgress(console, args.quiet)
    start = time.perf_counter()
    try:
        counts = run_matrix(
            matrix,
            out,
            grids=args.grid,
            workers=args.workers,
            limits=limits,
            skip_unknown=args.skip_unknown,
            on_start=progress.start,
            on_outcome=progress.cell,
        )
    finally:
        progress.stop()
    if not args.quiet:
        console.print(
            f"{counts.total} cells: {counts.done} done, {counts.failed} failed, "
            f"{counts.skipped} skipped, {counts.resumed} already done; "
            f"{time.perf_counter() - start:.1f} s; results in {out / STORE_NAME} "
            f"(exported to cells.csv and cells.json)"
        )
    return 1 if counts.failed else 0


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from fedarena.leaderboard import build_leaderboard

    out = args.out if args.out is not None else args.sources[0]
    if out.is_file():
        raise FedarenaError(f"--out: {out} is a file, expected a folder")
    document = build_leaderboard(args.sources, out, doc=args.doc)
    console.print(
        f"ranked {len(document['cells'])} cells in {len(document['panels'])} panel(s); "
        f"wrote {out / 'LEADERBOARD.md'}, leaderboard.json, index.html and the figures"
    )
    return 0


def cmd_list(args: argparse.Namespace, console: Console) -> int:
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


def _limits(seconds: float, memory_mb: int) -> Limits:
    try:
        return Limits(seconds=seconds, memory_mb=memory_mb)
    except ValueError as err:
        raise FedarenaError(str(err)) from None


def _check_workers(workers: int | None) -> None:
    if workers is not None and workers < 1:
        raise FedarenaError(f"--workers must be >= 1, got {workers}")


def _print_check(console: Console, result: CheckResult) -> None:
    colour = {"pass": "green", "FAIL": "red"}.get(result.status, "yellow")
    console.print(
        f"[{colour}]{result.status:<7}[/] {result.name}: {result.detail}",
        soft_wrap=True,
        highlight=False,
        markup=True,
    )


def cmd_submit(args: argparse.Namespace, console: Console) -> int:
    from fedarena.scenarios.matrix import load_matrix
    from fedarena.submission.submit import entry_name, submit

    _check_workers(args.workers)
    limits = _limits(args.cell_timeout, args.cell_memory)
    check_limits = _limits(args.check_timeout, args.cell_memory)
    if not args.budget > 0:
        raise FedarenaError(f"--budget must be > 0 seconds, got {args.budget}")
    matrix = load_matrix(args.matrix)
    out = args.out if args.out is not None else Path("results") / args.matrix.stem
    entry = None
    if not args.checks_only:
        entry = args.entry or Path("submissions") / f"{entry_name(args.spec)}.json"
        _check_writable(entry)
    console.print(f"conformance of {args.spec}:", highlight=False, soft_wrap=True)
    progress = MatrixProgress(console, args.quiet)
    try:
        outcome = submit(
            args.spec,
            matrix,
            out,
            entry,
            grids=args.grid,
            workers=args.workers,
            limits=limits,
            check_limits=check_limits,
            budget_s=args.budget,
            on_check=lambda result: _print_check(console, result),
            on_start=progress.start,
            on_outcome=progress.cell,
        )
    finally:
        progress.stop()
    report = outcome.report
    if not report.passed:
        console.print(
            f"{len(report.failures)} check(s) failed: nothing was run and no entry written",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    if entry is None:
        console.print("every check passed", highlight=False)
        return 0
    counts = outcome.entry["manifest"]["counts"]
    console.print(
        f"entry written to {entry}: {sum(counts.values())} cells ({counts['done']} done, "
        f"{counts['failed']} failed, {counts['skipped']} skipped) in {out / STORE_NAME}; "
        f"rank it with: fedarena leaderboard {entry}",
        highlight=False,
        soft_wrap=True,
    )
    return 0 if outcome.succeeded else 1


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from fedarena.leaderboard.regression import (
        build_baseline,
        compare,
        read_baseline,
        write_baseline,
    )
    from fedarena.scenarios.matrix import load_matrix
    from fedarena.scenarios.runner import run_matrix

    _check_workers(args.workers)
    limits = _limits(args.cell_timeout, args.cell_memory)
    baseline = None if args.update_baseline else read_baseline(args.baseline)
    matrix = load_matrix(args.scenario)
    grids = args.grid or (baseline["grids"] if baseline else matrix.grid_names())
    progress = MatrixProgress(console, args.quiet)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedarena-check-") as scratch:
        out = args.out if args.out is not None else Path(scratch)
        try:
            run_matrix(
                matrix,
                out,
                grids=grids,
                workers=args.workers,
                limits=limits,
                on_start=progress.start,
                on_outcome=progress.cell,
            )
        finally:
            progress.stop()
        keys = {cell.key for cell in matrix.cells(grids)}
        with ResultStore.in_folder(out) as store:
            records = [r for r in store.records() if r.key in keys]
    elapsed = time.perf_counter() - start
    if baseline is None:
        write_baseline(args.baseline, build_baseline(records, args.scenario, matrix.text, grids))
        console.print(
            f"baseline of {len(records)} cells written to {args.baseline} ({elapsed:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )
        return 0
    comparison = compare(baseline, records)
    summary = (
        f"{comparison.cells} cells: {comparison.identical} identical to the baseline, "
        f"{comparison.within} within their bands, {comparison.outside} outside; "
        f"{elapsed:.1f} s"
    )
    if comparison.passed:
        console.print(f"check passed: {summary}", highlight=False, soft_wrap=True)
        return 0
    table = Table(title=f"Regressions against {args.baseline} ({comparison.outside} cells)")
    for column in ("cell", "metric", "baseline", "now", "band"):
        table.add_column(column, overflow="fold")
    for row in comparison.deviations:
        table.add_row(row.cell, row.metric, row.baseline, row.now, row.band)
    console.print(table)
    console.print(
        f"check failed: {summary}. If the change is intended, rerun with --update-baseline "
        "and commit the new baseline.",
        highlight=False,
        soft_wrap=True,
    )
    return 1


def cmd_data_inspect(args: argparse.Namespace, console: Console) -> int:
    from fedarena.data.amazon import load_amazon
    from fedarena.data.summary import catalog_summary

    catalog, report = load_amazon(args.path)
    console.print(catalog_summary(catalog, report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console()
    handlers = {
        "run": cmd_run,
        "matrix": cmd_matrix,
        "leaderboard": cmd_leaderboard,
        "submit": cmd_submit,
        "check": cmd_check,
        "list": cmd_list,
        "data": cmd_data_inspect,
    }
    try:
        return handlers[args.command](args, console)
    except (FedarenaError, SpecError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fedarena: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fedarena: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
