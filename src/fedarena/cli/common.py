"""What several commands share: the cell flags, the scenario-file option, output checks and the
matrix progress display."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedarena.errors import FedarenaError, os_error, shown_path
from fedarena.sandbox.limits import Limits

if TYPE_CHECKING:
    from rich.console import Console

    from fedarena.matrix.cell import Cell
    from fedarena.matrix.runner import Counts, Monitor
    from fedarena.monitoring.metrics import Metrics
    from fedarena.monitoring.observers import MatrixObserver, RoundObserver
    from fedarena.sandbox.limits import Outcome

DEFAULT_SCENARIO_FILE = Path("scenarios/smoke.toml")


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


def check_writable(path: Path) -> None:
    """Refuse an output path that cannot be written before spending time on a run."""
    try:
        if path.is_dir():
            raise FedarenaError(f"--out: {shown_path(path)} is a folder, expected a file name")
        for folder in (path.parent, *path.parent.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise FedarenaError(f"--out: {shown_path(folder)} is a file, not a folder")
                if not os.access(folder, os.W_OK):
                    raise FedarenaError(f"--out: folder {shown_path(folder)} is not writable")
                return
    except OSError as err:  # a name too long for the file system
        raise FedarenaError(f"--out: {os_error(path, err, 'cannot write')}") from None


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
