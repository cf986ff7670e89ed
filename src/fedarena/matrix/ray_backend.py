"""Run a matrix's cells as Ray tasks, on a cluster or a Ray started for the run (``--backend ray``).

Each cell is one task asking for one CPU and the cell's memory limit (a
scheduling request: Ray places the task on a node with that much memory
free; it is not an address-space cap as in a local worker, which would break
Ray's shared-memory object store). The task calls the local workers'
``run_cell``, with one torch thread, so a cell's numbers are those of the
local backend. The driver enforces the wall-time limit, counted from the
cell's submission (at most as many cells are submitted as there are CPUs;
the clock includes a fresh Ray worker's imports, seconds, and a retry's
run): past it the task is cancelled by force and the cell failed, as locally.
A task whose worker or node dies (a node lost, a worker killed by Ray's
memory monitor, a crash) is resubmitted by Ray up to ``SYSTEM_RETRIES``
times, then its cell fails with Ray's error; an error in the cell itself is
``run_cell``'s outcome, never retried, as locally.

Plugin-file cells (untrusted code, jailed by the local backend) and Flower
cells (which start their own Ray) are refused: run them without
``--backend ray``. Ray is imported here only, when a pool is made.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedarena.errors import FedarenaError
from fedarena.matrix.cell import Cell
from fedarena.sandbox.limits import Limits, Outcome, one_line

SYSTEM_RETRIES = 2


def check_cells(cells: Sequence[Cell]) -> None:
    """Refuse, in one line, a cell the Ray backend does not run."""
    for cell in cells:
        where = f"--backend ray: cell {cell.key[:12]}"
        if cell.scenario.plugin_files:
            raise FedarenaError(
                f"{where} runs plugin code ({cell.scenario.plugin_files[0]}), which only the "
                "local backend jails; run it without --backend ray"
            )
        if cell.scenario.engine == "flower":
            raise FedarenaError(
                f"{where} is a Flower cell, which starts its own Ray; run it without --backend ray"
            )


def _cell_task(
    spec: dict[str, Any], limits: Limits, cwd: str, path: list[str], worlds: str
) -> Outcome:
    """A cell inside a Ray worker: the driver's folder and import path where this node has
    them (a shared file system), one torch thread, then exactly a local worker's run. Its
    shoppers are shared through the driver's ``worlds`` folder, or this node's own."""
    import torch

    if os.path.isdir(cwd):  # plugin and catalog paths are relative to where the matrix started
        os.chdir(cwd)
    sys.path[:0] = [p for p in path if p not in sys.path and os.path.isdir(p)]
    torch.set_num_threads(1)
    from fedarena.allocator import reuse_freed_memory
    from fedarena.data import cache
    from fedarena.matrix.worker import run_cell

    folder = Path(worlds)
    if not folder.parent.is_dir():  # another machine's path: this node keeps its own
        folder = Path(tempfile.gettempdir()) / "fedarena-worlds"
    cache.use(folder)
    reuse_freed_memory()  # a Ray worker runs fedarena's cells only

    return run_cell(spec, limits)


class RayPool:
    """Cells running as Ray tasks: ``submit`` one, ``wait`` for those that ended."""

    def __init__(
        self, limits: Limits, workers: int | None, address: str | None, worlds: Path
    ) -> None:
        import ray

        self._ray = ray
        self.limits = limits
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            with warnings.catch_warnings():  # Ray's notice of a future default, for GPUs
                warnings.simplefilter("ignore", FutureWarning)
                if address is None:
                    ray.init(num_cpus=workers, include_dashboard=False, **options)
                else:
                    ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = f"a Ray cluster at {address}" if address else "a local Ray"
            raise FedarenaError(
                f"--address: cannot start or reach {where}: {one_line(err)}"
            ) from None
        self.capacity = workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        try:
            self._check_memory()
        except FedarenaError:
            ray.shutdown()
            raise
        self._task = ray.remote(
            num_cpus=1, memory=limits.memory_mb * 2**20, max_retries=SYSTEM_RETRIES
        )(_cell_task)
        self._running: dict[Any, tuple[Cell, float]] = {}
        self._cwd = os.getcwd()
        self._worlds = str(worlds.absolute())

    def _check_memory(self) -> None:
        """Refuse a memory request no live node could ever meet (its cells would wait forever)."""
        largest = max(
            (n["Resources"].get("memory", 0) for n in self._ray.nodes() if n["Alive"]), default=0
        )
        if largest < self.limits.memory_mb * 2**20:
            raise FedarenaError(
                f"--cell-memory: {self.limits.memory_mb} MiB is more than any Ray node offers "
                f"({largest / 2**20:.0f} MiB)"
            )

    def submit(self, cell: Cell) -> None:
        """Start the cell's task; its clock starts now."""
        ref = self._task.remote(
            cell.scenario.to_dict(), self.limits, self._cwd, sys.path, self._worlds
        )
        self._running[ref] = (cell, time.monotonic())

    def wait(self, timeout: float) -> list[tuple[Cell, Outcome]]:
        """The cells that ended within ``timeout`` seconds (or ran out of time), with outcomes."""
        if not self._running:
            return []
        refs = list(self._running)
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=timeout)
        ended = [(ref, self._outcome(ref)) for ref in ready]
        for ref in set(refs) - set(ready):
            started = self._running[ref][1]
            if time.monotonic() > started + self.limits.seconds:
                self._ray.cancel(ref, force=True)
                reason = f"time limit of {self.limits.seconds:g} s exceeded"
                ended.append((ref, Outcome("failed", time.monotonic() - started, reason=reason)))
        return [(self._running.pop(ref)[0], outcome) for ref, outcome in ended]

    def _outcome(self, ref: Any) -> Outcome:
        """A finished task's outcome: ``run_cell``'s, or failed with Ray's error."""
        started = self._running[ref][1]
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayError as err:
            reason = f"the Ray task failed ({SYSTEM_RETRIES} retries spent): {one_line(err)}"
            return Outcome("failed", time.monotonic() - started, reason=reason)

    def close(self) -> None:
        """Cancel the cells still running and leave Ray (stopping it when this pool started it)."""
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._running.clear()
        self._ray.shutdown()
