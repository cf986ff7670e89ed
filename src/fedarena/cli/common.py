"""What several commands share: the lazily built parsers, the console, the cell flags, the
scenario-file option, output checks and the progress displays of a run and of a matrix."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedarena.errors import FedarenaError, os_error, shown_path
from fedarena.sandbox.limits import Limits

if TYPE_CHECKING:
    from rich.console import Console

    from fedarena.engine.federation import RoundRecord
    from fedarena.matrix.cell import Cell
    from fedarena.matrix.runner import Counts, Monitor
    from fedarena.monitoring.metrics import Metrics
    from fedarena.monitoring.observers import MatrixObserver, RoundObserver
    from fedarena.sandbox.limits import Outcome
    from fedarena.scenario.run import Phase

DEFAULT_SCENARIO_FILE = Path("scenarios/smoke.toml")
# Without a terminal (a CI log, a pipe) rich would cut lines at 80 columns.
LOG_WIDTH = 160
# Without a terminal, a run prints a round's line every tenth of its rounds, and at least this
# often (seconds), instead of a bar that a log would show only at the end.
PLAIN_EVERY_S = 10.0
Hook = Callable[[argparse.ArgumentParser, Sequence[str]], None]


class LazyParser(argparse.ArgumentParser):
    """A parser whose costly flags are added only when it parses (``defer``): a command's
    flags that need torch to be known (``run``'s) cost nothing to ``fedarena --help`` or to
    any other command. A hook gets the parser and the words it is about to parse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.hooks: list[Hook] = []
        super().__init__(*args, **kwargs)

    def defer(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        while self.hooks:
            self.hooks.pop(0)(self, words)
        return super().parse_known_args(words, namespace)


def default_or_packaged(scenario: Path) -> Path:
    """``scenario``, or, when it is the default ``scenarios/smoke.toml`` and this folder has
    none, the same file shipped in the package (``fedarena/scenarios/smoke.toml``), so that
    ``submit`` and ``check`` work outside the repository."""
    if scenario != DEFAULT_SCENARIO_FILE or scenario.exists():
        return scenario
    return Path(str(files("fedarena") / "scenarios" / DEFAULT_SCENARIO_FILE.name))


def make_console() -> Console:
    """The console commands print to: stdout, and without a terminal ``LOG_WIDTH`` columns
    wide (``COLUMNS`` still wins), so that a log's tables and lines are not cut at 80."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=LOG_WIDTH)
    return console


class Deprecated(argparse.Action):
    """An old spelling of an option: stores the value where the new one does and says so."""

    def __init__(self, *args: Any, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option=None):
        if values is None:  # an absent optional positional: nothing was said
            return
        old = option or self.metavar or self.dest
        print(
            f"fedarena: {old} is deprecated and will be removed in the next release; "
            f"use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_scenario_file(parser: argparse.ArgumentParser, default: Path | None) -> None:
    """``--scenario FILE``, the one name every command gives a scenario file."""
    shown = f" (default: {default})" if default else ""
    parser.add_argument(
        "--scenario",
        type=Path,
        default=default,
        metavar="FILE",
        help=f"scenario file, e.g. scenarios/smoke.toml{shown}",
    )


def scenario_file(args: argparse.Namespace) -> Path:
    """The scenario file the command was given, or a one-line error when none was."""
    if args.scenario is None:
        raise FedarenaError("no scenario file: give --scenario FILE, e.g. scenarios/smoke.toml")
    return args.scenario


def add_cell_flags(parser: argparse.ArgumentParser) -> None:
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
    add_limit_flags(parser)


def add_limit_flags(parser: argparse.ArgumentParser) -> None:
    """The time and memory limits of each cell (``limits`` checks them)."""
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
        help=f"address space per cell in MiB (default: {Limits.memory_mb}; cells with "
        "engine = flower get at least 16384, since Ray maps its object store into each of "
        "its processes)",
    )


def limits(
    seconds: float, memory_mb: int, flags: tuple[str, str] = ("--cell-timeout", "--cell-memory")
) -> Limits:
    """The cell limits of the flags, or a one-line error naming the bad flag (``flags``: the
    time flag and the memory flag as the command spells them)."""
    for flag, values in zip(flags, ({"seconds": seconds}, {"memory_mb": memory_mb}), strict=True):
        try:
            Limits(**values)
        except ValueError as err:
            raise FedarenaError(f"{flag}: {err}") from None
    return Limits(seconds=seconds, memory_mb=memory_mb)


def check_workers(workers: int | None) -> None:
    if workers is not None and workers < 1:
        raise FedarenaError(f"--workers must be >= 1, got {workers}")


def check_writable(path: Path, flag: str = "--out") -> None:
    """Refuse an output path that cannot be written before spending time on a run (the one-line
    error names ``flag``, the option that gave it)."""
    try:
        if path.is_dir():
            raise FedarenaError(f"{flag}: {shown_path(path)} is a folder, expected a file name")
        for folder in (path.parent, *path.parent.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise FedarenaError(f"{flag}: {shown_path(folder)} is a file, not a folder")
                if not os.access(folder, os.W_OK):
                    raise FedarenaError(f"{flag}: folder {shown_path(folder)} is not writable")
                return
    except OSError as err:  # a name too long for the file system
        raise FedarenaError(f"{flag}: {os_error(path, err, 'cannot write')}") from None


class MatrixProgress:
    """Rich progress for a matrix: a bar with done, failed, skipped, remaining and the ETA."""

    def __init__(self, console: Console, quiet: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

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


class RunProgress:
    """What a run shows while it runs: a line when a phase starts and its time when it ends,
    and the rounds as a bar on a terminal or, without one (a CI log), as plain lines (every
    tenth of the rounds, at least every ``PLAIN_EVERY_S`` seconds, and the last)."""

    def __init__(self, console: Console, quiet: bool, rounds: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console, self.quiet, self.rounds = console, quiet, rounds
        self.bar = console.is_terminal and not quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description} {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}  NDCG@10 {task.fields[ndcg]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.bar,
        )
        self._task("round")

    def _task(self, label: str) -> None:
        self.label, self.done, self.start = label, 0, time.perf_counter()
        self.last_line = self.start
        self.task = self.progress.add_task(label, total=self.rounds, loss="-", ndcg="-")

    def on_phase(self, phase: Phase) -> None:
        from fedarena.scenario.run import CLEAN

        if self.quiet:
            return
        if phase.seconds is None:
            self.say(f"{phase.name}: {phase.detail} ..." if phase.detail else f"{phase.name} ...")
            if phase.name == CLEAN:
                self.progress.update(self.task, visible=False)
                self._task("clean run round")
            return
        detail = f" ({phase.detail})" if phase.detail else ""
        self.say(f"{phase.name}: {phase.seconds:.1f} s{detail}")

    def on_round(self, record: RoundRecord) -> None:
        self.done += 1
        loss = f"{record.train_loss:.4f}"
        ndcg = record.metrics.get("ndcg@10")
        shown = f"{ndcg:.4f}" if ndcg is not None else "-"
        if self.bar:
            self.progress.start()  # on the first round only: set-up errors print without a bar
            self.progress.update(self.task, advance=1, loss=loss, ndcg=shown)
            return
        now = time.perf_counter()
        every = max(1, self.rounds // 10)
        due = self.done % every == 0 or self.done == self.rounds
        if not self.quiet and (due or now - self.last_line >= PLAIN_EVERY_S):
            self.last_line = now
            self.say(
                f"{self.label} {self.done}/{self.rounds}  loss {loss}  NDCG@10 {shown}  "
                f"{now - self.start:.1f} s"
            )

    def say(self, line: str) -> None:
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def stop(self) -> None:
        self.progress.stop()


def add_monitoring_flags(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port PORT`` (Prometheus) and ``--events FILE`` (JSON lines) while running."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics while running "
        "(0: any free port; needs the monitoring extra; docs/monitoring.md)",
    )
    parser.add_argument(
        "--events",
        type=Path,
        default=None,
        metavar="FILE",
        help="append one JSON line per round and per cell to FILE (schema fedarena.event/1)",
    )


@dataclass
class Watch:
    """The monitoring a command was asked for: who watches its cells and rounds, and what to
    close when it ends."""

    monitor: Monitor | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def round_observer(self) -> RoundObserver | None:
        """The observer of a single run's rounds (``fedarena run``)."""
        return None if self.monitor is None else self.monitor.rounds("")

    def close(self) -> None:
        for close in self.closers:
            close()


def start_watch(args: argparse.Namespace, console: Console, name: str = "") -> Watch:
    """Start what ``--metrics-port`` and ``--events`` ask for; a bad or busy port, an unwritable
    events file or a missing prometheus-client is a one-line error before anything runs."""
    from fedarena.matrix.runner import Monitor
    from fedarena.monitoring.observers import FanOut

    cells: list[MatrixObserver] = []
    rounds: list[Callable[[str], RoundObserver]] = []
    watch = Watch()
    if args.metrics_port is not None:
        metrics = _start_metrics(args.metrics_port, console)
        from fedarena.monitoring.metrics import PrometheusMatrixObserver, PrometheusRoundObserver

        cells.append(PrometheusMatrixObserver(metrics))
        rounds.append(lambda cell: PrometheusRoundObserver(metrics, cell))
    if args.events is not None:
        from fedarena.monitoring.events import (
            EventMatrixObserver,
            EventRoundObserver,
            JsonLinesSink,
        )

        sink = JsonLinesSink(args.events)  # an unwritable file is a one-line FedarenaError
        watch.closers.append(sink.close)
        cells.append(EventMatrixObserver(sink, name))
        rounds.append(lambda cell: EventRoundObserver(sink, cell))
    if cells:
        watch.monitor = Monitor(
            cells=FanOut(*cells), rounds=lambda cell: FanOut(*(make(cell) for make in rounds))
        )
    return watch


def _start_metrics(port: int, console: Console) -> Metrics:
    if not 0 <= port <= 65535:
        raise FedarenaError(f"--metrics-port must be in 0..65535, got {port}")
    try:
        from fedarena.monitoring.exporter import start_exporter
        from fedarena.monitoring.metrics import Metrics
    except ImportError:
        raise FedarenaError(
            "--metrics-port needs prometheus-client: pip install 'fedarena[monitoring]'"
        ) from None
    metrics = Metrics()
    # Served until the process exits, so that a scrape after the last cell still sees it.
    exporter = start_exporter(port, metrics.registry)
    console.print(f"metrics at {exporter.url}", highlight=False, soft_wrap=True)
    return metrics
