"""Run a matrix's cells in parallel worker processes, one process per cell, into the store.

Workers are forked from a ``forkserver`` that has imported torch and fedarena
once, so starting a cell costs milliseconds, and no worker inherits the
threads of the parent (the progress display). The parent alone writes the
store: a cell's row is committed as soon as its outcome arrives, so killing
the matrix loses at most the cells in flight. It enforces each cell's wall
time (the worker is killed and the cell failed), and a worker that dies
without an outcome (memory exhausted, crashed, killed, its fork server
killed) fails its cell with the signal or exit status; the next cell gets a
fresh fork server if it is needed.

A cell whose components include a plugin file (untrusted code) runs instead
in a fresh interpreter jailed by bubblewrap (``fedarena.sandbox.bwrap``),
seeing only Python, the plugin's folder and the scenario's data; where
bubblewrap is absent it is forked like the others, after a one-line notice.
Either way, no process of a cell outlives it: a forked worker leads its own
process group, killed whole when the cell ends, and a jail's processes die
with it (``fedarena.sandbox.launcher``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedarena import __version__
from fedarena.errors import FedarenaError, SpecError, os_error
from fedarena.matrix.cell import Cell
from fedarena.matrix.export import export
from fedarena.matrix.file import Matrix
from fedarena.matrix.store import CellRecord, ResultStore, now
from fedarena.monitoring.observers import MatrixObserver, RoundObserver
from fedarena.sandbox import bwrap
from fedarena.sandbox.launcher import Child, ForkedChild, JailedChild
from fedarena.sandbox.limits import Interim, Limits, Outcome, death_reason
from fedarena.sandbox.process import (
    EXIT_GRACE_S,
    preload_in_children,
    process_context,
    read_outcome,
    start_fork_server,
)
from fedarena.scenario.spec import COMPONENT_FIELDS, Scenario

if TYPE_CHECKING:
    from fedarena.matrix.ray_backend import RayPool

# What a cell imports lazily, each costing every such cell seconds were it not preloaded by
# the fork server: torch.optim's first optimiser (the centralised baseline) imports
# torch._dynamo (~2 s), the privacy accountant imports Opacus and SciPy (~2.5 s), FLAME's
# HDBSCAN scikit-learn (~0.4 s). A jailed cell imports afresh and pays only what it uses.
CELL_IMPORTS = (
    "fedarena.matrix.worker",
    "torch._dynamo",
    "opacus.accountants.analysis.rdp",
    "sklearn.cluster",
)
preload_in_children(*CELL_IMPORTS)

POLL_S = 0.5
LOCK_NAME = ".lock"
WORLDS_FOLDER = "worlds"  # the shoppers cells share (fedarena.data.cache), beside the store
DEFAULT_LIMITS = Limits()
BACKENDS = ("local", "ray")
FLOWER_MEMORY_MB = 16384  # measured here: Ray fails under 8192 MiB of address space, runs at 16384


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class Counts:
    """Where a matrix run stands."""

    total: int
    resumed: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.resumed - self.done - self.failed - self.skipped

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "resumed": self.resumed,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "remaining": self.remaining,
        }


@dataclass(frozen=True)
class Monitor:
    """Who watches a matrix: ``cells`` is told the plan and every cell's start and end,
    ``rounds(cell)`` gives the observer of a running cell's rounds (its key's first 12
    characters), fed from the worker's ``Interim`` messages."""

    cells: MatrixObserver
    rounds: Callable[[str], RoundObserver]


class Ledger:
    """What every runner does around its cells: count them, skip those already done, and
    record each finished cell in the store (one transaction), telling the monitor and the
    caller. Made at the start of a run: it announces the plan."""

    def __init__(
        self,
        store: ResultStore,
        session: int,
        monitor: Monitor | None,
        cells: Sequence[Cell],
        on_start: Callable[[Counts], None] | None,
        on_outcome: Callable[[Cell, Outcome, Counts], None] | None,
    ) -> None:
        self.store = store
        self.session = session
        self.monitor = monitor
        self.on_outcome = on_outcome
        finished = store.done_keys()
        self.counts = Counts(total=len(cells), resumed=sum(c.key in finished for c in cells))
        self.pending = deque(c for c in cells if c.key not in finished)
        if on_start is not None:
            on_start(self.counts)
        if monitor is not None:
            monitor.cells.on_matrix_start(self.counts.total, self.counts.resumed)

    def skip(self, cell: Cell, reason: str) -> None:
        """Record a cell as skipped without running it."""
        if self.monitor is not None:
            self.monitor.cells.on_cell_start(cell.key[:12])
        self.record(cell, Outcome("skipped", 0.0, reason=reason))

    def record(self, cell: Cell, outcome: Outcome) -> None:
        """Store a finished cell and tell who watches."""
        self.store.put(
            CellRecord(
                key=cell.key,
                family=cell.family,
                version=cell.version,
                seed=cell.seed,
                spec=cell.scenario.to_dict(),
                status=outcome.status,
                wall_s=outcome.wall_s,
                finished_at=now(),
                reason=outcome.reason,
                traceback=outcome.traceback,
                result=outcome.result,
                session=self.session,
            )
        )
        self.counts.add(outcome.status)
        if self.monitor is not None:
            self.monitor.cells.on_cell_end(outcome.status, outcome.wall_s, cell.key[:12])
        if self.on_outcome is not None:
            self.on_outcome(cell, outcome, self.counts)


@dataclass
class _Job:
    cell: Cell
    child: Child
    rounds: RoundObserver | None = None  # who hears the cell's rounds, when monitored


def _in_worker(*args: Any) -> None:
    # Imported here, where the fork server has already loaded it: the parent never needs it.
    from fedarena.matrix.worker import worker_main

    worker_main(*args)


def cell_limits(limits: Limits, scenario: Scenario) -> Limits:
    """A cell's limits: the matrix's, with at least ``FLOWER_MEMORY_MB`` for a Flower cell
    (each of Ray's processes inherits the address-space cap, and Ray maps its object store,
    a share of the machine's memory, into them)."""
    if scenario.engine != "flower" or limits.memory_mb >= FLOWER_MEMORY_MB:
        return limits
    return replace(limits, memory_mb=FLOWER_MEMORY_MB)


def _jail_readable(scenario: Scenario) -> list[Path]:
    """What a jailed cell must read: its plugins' folders and a catalog given by path."""
    readable = bwrap.code_folders(scenario.plugin_files)
    if scenario.catalog != "builtin":
        readable.append(Path(scenario.catalog).resolve())
    return readable


class MatrixRunner:
    """Runs cells with at most ``workers`` processes at once, recording each in ``store``."""

    def __init__(
        self,
        store: ResultStore,
        workers: int,
        limits: Limits,
        session: int,
        monitor: Monitor | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.store = store
        self.workers = workers
        self.limits = limits
        self.session = session
        self.monitor = monitor
        self._context = process_context()
        self._cwd = os.getcwd()

    def run(
        self,
        cells: Sequence[Cell],
        skip: Mapping[str, str] | None = None,
        on_outcome: Callable[[Cell, Outcome, Counts], None] | None = None,
        on_start: Callable[[Counts], None] | None = None,
    ) -> Counts:
        """Run every cell not already done; ``skip`` maps keys to record as skipped unrun."""
        skip = skip or {}
        ledger = Ledger(self.store, self.session, self.monitor, cells, on_start, on_outcome)
        jobs: list[_Job] = []
        try:
            while ledger.pending or jobs:
                while ledger.pending and len(jobs) < self.workers:
                    cell = ledger.pending.popleft()
                    if cell.key in skip:
                        ledger.skip(cell, skip[cell.key])
                    else:
                        jobs.append(self._start(cell))
                if not jobs:
                    continue
                timeout = min(j.child.started for j in jobs) + self.limits.seconds
                timeout -= time.monotonic()
                wait(
                    [j.child.messages for j in jobs] + [j.child.sentinel for j in jobs],
                    timeout=min(max(timeout, 0.0), POLL_S),
                )
                for job in list(jobs):
                    outcome = self._poll(job)
                    if outcome is not None:
                        jobs.remove(job)
                        ledger.record(job.cell, outcome)
        finally:
            for job in jobs:
                self._stop(job, grace=0.0)
        return ledger.counts

    def _start(self, cell: Cell) -> _Job:
        """Start the cell's worker: jailed when it runs plugin code and bubblewrap is here."""
        limits = cell_limits(self.limits, cell.scenario)
        args = (cell.scenario.to_dict(), limits, self._cwd, self.monitor is not None)
        child: Child
        if cell.scenario.plugin_files and bwrap.available():
            from fedarena.matrix.worker import worker_main  # the jail imports it, not the parent

            child = JailedChild(worker_main, args, _jail_readable(cell.scenario))
        else:
            log = self.store.path.parent / "logs" / f"{cell.key[:12]}.log"
            args = (*args, str(log), str(self.store.path.parent / WORLDS_FOLDER))
            child = ForkedChild(self._context, _in_worker, args, f"cell-{cell.key[:12]}")
        rounds = None
        if self.monitor is not None:
            self.monitor.cells.on_cell_start(cell.key[:12])
            rounds = self.monitor.rounds(cell.key[:12])
        return _Job(cell, child, rounds)

    def _poll(self, job: _Job) -> Outcome | None:
        """The job's outcome if it has one (a message, a death, a timeout), else ``None``."""
        elapsed = max(time.monotonic() - job.child.started, 0.0)
        outcome = self._read(job, elapsed)
        if outcome is None and not job.child.is_alive():
            # The worker may have written its outcome just before exiting: read once more.
            outcome = self._read(job, elapsed) or Outcome(
                "failed", elapsed, reason=death_reason(job.child.exitcode)
            )
        if outcome is not None:
            self._stop(job, grace=EXIT_GRACE_S)
            return outcome
        if time.monotonic() > job.child.started + self.limits.seconds:
            self._stop(job, grace=0.0)
            return Outcome(
                "failed", elapsed, reason=f"time limit of {self.limits.seconds:g} s exceeded"
            )
        return None

    def _read(self, job: _Job, elapsed: float) -> Outcome | None:
        """Pass the worker's round reports on; its outcome if it has sent it (a closed pipe
        without one is a death), else ``None``."""

        def on_interim(message: Interim) -> None:
            if job.rounds is not None:
                job.rounds.on_round(**message.values)

        return read_outcome(job.child, elapsed, on_interim)

    def _stop(self, job: _Job, grace: float) -> None:
        """Reap the worker, killing it if it is still alive after ``grace`` seconds, and every
        process it left in its group (or jail)."""
        job.child.stop(grace)


class RayRunner:
    """Runs cells as Ray tasks (``fedarena.matrix.ray_backend.RayPool``), as many at once as
    the pool has CPUs, recording each in ``store`` as ``MatrixRunner`` does."""

    def __init__(
        self, store: ResultStore, pool: RayPool, session: int, monitor: Monitor | None = None
    ) -> None:
        self.store = store
        self.pool = pool
        self.session = session
        self.monitor = monitor

    def run(
        self,
        cells: Sequence[Cell],
        skip: Mapping[str, str] | None = None,
        on_outcome: Callable[[Cell, Outcome, Counts], None] | None = None,
        on_start: Callable[[Counts], None] | None = None,
    ) -> Counts:
        """Run every cell not already done; ``skip`` maps keys to record as skipped unrun."""
        skip = skip or {}
        ledger = Ledger(self.store, self.session, self.monitor, cells, on_start, on_outcome)
        running = 0
        while ledger.pending or running:
            while ledger.pending and running < self.pool.capacity:
                cell = ledger.pending.popleft()
                if cell.key in skip:
                    ledger.skip(cell, skip[cell.key])
                    continue
                if self.monitor is not None:
                    self.monitor.cells.on_cell_start(cell.key[:12])
                self.pool.submit(cell)
                running += 1
            for cell, outcome in self.pool.wait(POLL_S):
                running -= 1
                ledger.record(cell, outcome)
        return ledger.counts


def _writable_folder(folder: Path) -> None:
    """Create ``folder`` or refuse it with one line, before any cell runs."""
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise FedarenaError(f"--out: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise FedarenaError(f"--out: folder {parent} is not writable")
            break
    folder.mkdir(parents=True, exist_ok=True)


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold the folder's lock file: two matrix runs never share a store (released by any exit)."""
    with open(folder / LOCK_NAME, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FedarenaError(f"--out: {folder} is in use by another fedarena matrix") from None
        yield


@contextmanager
def _pool(
    backend: str, limits: Limits, workers: int | None, address: str | None, worlds: Path
) -> Iterator[RayPool | None]:
    """The Ray pool the run's cells go to (closed at the end, however it ends), or ``None``
    for the local process pool."""
    if backend == "local":
        yield None
        return
    from fedarena.matrix.ray_backend import RayPool

    pool = RayPool(limits, workers, address, worlds)
    try:
        yield pool
    finally:
        pool.close()


def start_session(
    store: ResultStore,
    matrix: str,
    matrix_sha256: str,
    grids: list[str],
    workers: int,
    limits: Limits,
    cells: Sequence[Cell],
) -> int:
    """Record in ``store`` that a run of ``cells`` starts here: the matrix, the machine, the
    limits, and how many of the cells a previous run already did."""
    return store.start_session(
        matrix=matrix,
        matrix_sha256=matrix_sha256,
        grids=grids,
        version=__version__,
        workers=workers,
        cores=available_cores(),
        machine=platform.machine(),
        time_limit_s=limits.seconds,
        memory_limit_mb=limits.memory_mb,
        cells=len(cells),
        resumed=len(store.done_keys() & {c.key for c in cells}),
    )


def run_matrix(
    matrix: Matrix,
    folder: Path,
    *,
    grids: Sequence[str] | None = None,
    workers: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    skip_unknown: bool = False,
    on_start: Callable[[Counts], None] | None = None,
    on_outcome: Callable[[Cell, Outcome, Counts], None] | None = None,
    monitor: Monitor | None = None,
    backend: str = "local",
    address: str | None = None,
) -> Counts:
    """Run a scenario file's cells into ``folder``'s store, resuming; export CSV and JSON;
    ``monitor`` watches the cells and their rounds.

    ``backend="ray"`` runs the cells as Ray tasks (``fedarena.matrix.ray_backend``) on the
    cluster at ``address`` (``"auto"`` or ``HOST:PORT``), or on a Ray started for the run
    with ``workers`` CPUs when ``address`` is ``None``; this process alone writes the store.

    A component name that no registry has is an error naming the file and
    key, unless ``skip_unknown``: its cells are then recorded as skipped (an
    invalid option of a known component was refused when the file was loaded).
    A store or export that cannot be written (a full disk) is a one-line
    ``FedarenaError``; the cells stored before it are kept.
    """
    if backend not in BACKENDS:
        raise FedarenaError(f"--backend: unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "local":
        start_fork_server()
    problems = matrix.problems(grids)
    if problems and not skip_unknown:
        raise SpecError(next(iter(problems.values())))
    cells = matrix.cells(grids)
    skip = {}
    for cell in cells:
        values = [str(getattr(cell.scenario, name)) for name in COMPONENT_FIELDS]
        reasons = [problems[v] for v in values if v in problems]
        if reasons:
            skip[cell.key] = reasons[0]
    if backend == "ray":
        from fedarena.matrix.ray_backend import check_cells

        check_cells(cells)
    try:
        _writable_folder(folder)
    except OSError as err:  # a name too long, a full disk
        raise FedarenaError(f"--out: {os_error(folder, err, 'cannot create the folder')}") from None
    with (
        _exclusive(folder),
        ResultStore.in_folder(folder) as store,
        _pool(backend, limits, workers, address, folder / WORLDS_FOLDER) as pool,
    ):
        workers = pool.capacity if pool is not None else workers or available_cores()
        session = start_session(
            store,
            str(matrix.path),
            hashlib.sha256(matrix.text.encode()).hexdigest(),
            list(grids or matrix.grid_names()),
            workers,
            limits,
            cells,
        )
        start = time.perf_counter()
        runner: MatrixRunner | RayRunner = (
            MatrixRunner(store, workers, limits, session, monitor)
            if pool is None
            else RayRunner(store, pool, session, monitor)
        )
        try:
            counts = runner.run(cells, skip, on_outcome, on_start)
            store.finish_session(session, time.perf_counter() - start, counts.as_dict())
        except BaseException:  # an interrupted run still leaves its finished cells exported
            # The error that stopped the run is the one to report (a full disk fails both).
            with suppress(FedarenaError):
                export(store.records(), store.sessions(), folder)
            raise
        export(store.records(), store.sessions(), folder)
    return counts
