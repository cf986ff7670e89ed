"""Inside a cell's worker process: set the limits, run one scenario, send back one outcome.

The process is forked from a server that imported this module, and with it
torch and every registered component (seconds of imports paid once, not once
per cell). It caps its address space (``RLIMIT_AS``), writes no core file,
trains with one torch thread, and asks the kernel to kill it when its parent
(the fork server, which exits with the matrix) dies. Its outcome is ``done``
with the run document, ``skipped`` when the spec cannot run by construction
(``SpecError``: unknown options, a defense's precondition such as Krum's
n > 2f + 2), or ``failed`` with the error and its traceback. The parent
enforces the wall-time limit and reports a worker that died without an
outcome (killed, crashed).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import torch

from fedarena.attacks import ATTACKS
from fedarena.compression import COMPRESSORS
from fedarena.defenses import DEFENSES
from fedarena.errors import SpecError
from fedarena.scenarios.cell_process import Limits, Outcome
from fedarena.scenarios.run import run_scenario
from fedarena.scenarios.sandbox import one_line, out_of_memory
from fedarena.scenarios.spec import Scenario
from fedarena.strategies import STRATEGIES

PR_SET_PDEATHSIG = 1


def import_components() -> None:
    """Import every built-in and entry-point component (done once, in the fork server)."""
    for registry in (ATTACKS, DEFENSES, STRATEGIES, COMPRESSORS):
        registry.names()


import_components()


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (no orphaned cells)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent kills workers it outlives
        return


def apply_limits(limits: Limits) -> None:
    """Called first in the worker: memory cap, no core dumps, one thread, die with the parent."""
    cap = limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _die_with_parent()
    torch.set_num_threads(1)


def failed(err: Exception, limits: Limits, wall_s: float) -> Outcome:
    """The ``failed`` outcome of an exception being handled: its one line (the memory limit
    named when the error is an allocation failure) and its traceback."""
    reason = one_line(err)
    if out_of_memory(err):
        reason = f"memory limit of {limits.memory_mb} MiB exceeded ({reason})"
    return Outcome("failed", wall_s, reason=reason, traceback=traceback.format_exc())


def run_cell(spec: dict[str, Any], limits: Limits) -> Outcome:
    """Run one resolved spec and classify how it ended (never raises)."""
    start = time.perf_counter()
    try:
        result = run_scenario(Scenario.from_dict(spec), on_round=None, compare_clean=False)
    except SpecError as err:
        return Outcome("skipped", time.perf_counter() - start, reason=str(err).splitlines()[0])
    except Exception as err:  # any bug in any component fails the cell, not the matrix
        return failed(err, limits, time.perf_counter() - start)
    return Outcome("done", time.perf_counter() - start, result=result)


def worker_main(connection: Connection, spec: dict[str, Any], limits: Limits, cwd: str) -> None:
    """Entry point of a worker process: one cell, one message on ``connection``."""
    os.chdir(cwd)  # plugin paths are relative to where the matrix was started
    apply_limits(limits)
    connection.send(run_cell(spec, limits))
    connection.close()
