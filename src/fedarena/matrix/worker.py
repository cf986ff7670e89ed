"""Inside a cell's worker process: set the limits, run one scenario, send back one outcome.

The process is forked from a server that imported this module, and with it
torch and every registered component (seconds of imports paid once, not once
per cell), or, for a cell that runs a plugin file, started in a bubblewrap
jail that imports it afresh (``fedarena.sandbox.jail``); it sets its limits
first (``fedarena.sandbox.child``). Its outcome is ``done``
with the run document, ``skipped`` when the spec cannot run by construction
(``SpecError``: unknown options, a defense's precondition such as Krum's
n > 2f + 2), or ``failed`` with the error and its traceback. The parent
enforces the wall-time limit and reports a worker that died without an
outcome (killed, crashed).
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from fedarena.allocator import reuse_freed_memory
from fedarena.components import registries
from fedarena.data import cache
from fedarena.errors import SpecError
from fedarena.monitoring.observers import RoundObserver
from fedarena.sandbox.child import apply_limits, failed
from fedarena.sandbox.limits import Interim, Limits, Outcome
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

# Read by fedarena.flower.simulation (not imported here: the fork server would load Flower).
FLOWER_LOG_ENV = "FEDARENA_FLOWER_LOG"


def import_components() -> None:
    """Import every built-in and entry-point component (done once, in the fork server)."""
    for registry in registries().values():
        registry.names()


import_components()


class ForwardRounds:
    """A ``RoundObserver`` in the worker that sends every round to the parent process, as an
    ``Interim`` holding ``on_round``'s keyword arguments."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def on_round(self, **values: Any) -> None:
        self.connection.send(Interim(values))


def run_cell(
    spec: dict[str, Any], limits: Limits, observer: RoundObserver | None = None
) -> Outcome:
    """Run one resolved spec and classify how it ended (never raises)."""
    start = time.perf_counter()
    try:
        scenario = Scenario.from_dict(spec)
        result = run_scenario(scenario, on_round=None, compare_clean=False, observer=observer)
    except SpecError as err:
        return Outcome("skipped", time.perf_counter() - start, reason=str(err).splitlines()[0])
    except Exception as err:  # any bug in any component fails the cell, not the matrix
        return failed(err, limits, time.perf_counter() - start)
    return Outcome("done", time.perf_counter() - start, result=result)


def worker_main(
    connection: Connection,
    spec: dict[str, Any],
    limits: Limits,
    cwd: str,
    rounds: bool = False,
    log: str | None = None,
    worlds: str | None = None,
) -> None:
    """Entry point of a worker process: one cell, its ``Outcome`` on ``connection`` last
    (preceded by an ``Interim`` per round when ``rounds``); a Flower cell keeps Flower's and
    Ray's output in ``log`` (``fedarena.flower.simulation``), not on the console; the
    shoppers of a world that an earlier cell built are read from ``worlds``
    (``fedarena.data.cache``)."""
    os.chdir(cwd)  # plugin paths are relative to where the matrix was started
    reuse_freed_memory()  # this process runs one cell: its rounds reuse each other's pages
    if worlds is not None:
        cache.use(Path(worlds))
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        os.environ[FLOWER_LOG_ENV] = log
    apply_limits(limits)
    connection.send(run_cell(spec, limits, ForwardRounds(connection) if rounds else None))
    connection.close()
