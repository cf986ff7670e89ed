"""Run code that may misbehave (a cell, a submitted defense) in a child process with limits.

Children are forked from a ``forkserver`` that has imported torch and every
registered component once (``fedarena.scenarios.worker``), so a child starts in
milliseconds and inherits no thread of the parent. A child caps its address
space, writes no core file, uses one torch thread and dies with its parent
(``worker.apply_limits``). The parent waits at most the time limit, then kills
it; a child that dies without reporting is described by its signal or status.

The matrix runner starts many such children at once (``runner.MatrixRunner``);
``run_limited`` runs one call and waits for it, as the conformance checks of a
submitted defense do.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from fedarena.scenarios.cell_process import Limits, Outcome

EXIT_GRACE_S = 5.0
WORKER_MODULE = "fedarena.scenarios.worker"
_OUT_OF_MEMORY = ("can't allocate memory", "DefaultCPUAllocator", "std::bad_alloc")


def process_context() -> multiprocessing.context.ForkServerContext:
    """The fork server context; the server imports the worker module (torch, components)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WORKER_MODULE])
    return context


def start_fork_server() -> None:
    """Start the fork server now, so that its imports overlap the parent's own."""
    process_context()
    multiprocessing.forkserver.ensure_running()


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def out_of_memory(err: BaseException) -> bool:
    """Whether an error is an allocation refused (by the address-space limit, usually)."""
    return isinstance(err, MemoryError) or any(s in str(err) for s in _OUT_OF_MEMORY)


def death_reason(exitcode: int | None) -> str:
    """Why a child that sent nothing ended: the signal that killed it, or its exit status."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint} before reporting"
    return f"the worker process exited with status {exitcode} before reporting"


def _in_sandbox(
    connection: Connection,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    limits: Limits,
    cwd: str,
) -> None:
    # Imported here, where the fork server has already loaded it: the parent never needs it.
    from fedarena.scenarios.worker import apply_limits, failed

    os.chdir(cwd)  # plugin paths are relative to where the parent was started
    apply_limits(limits)
    start = time.perf_counter()
    try:
        result = target(*args)
    except Exception as err:  # untrusted code: any error is the outcome, never a crash
        outcome = failed(err, limits, time.perf_counter() - start)
    else:
        outcome = Outcome("done", time.perf_counter() - start, result=result)
    connection.send(outcome)
    connection.close()


def run_limited(
    target: Callable[..., Any], args: tuple[Any, ...], limits: Limits, name: str = "sandbox"
) -> Outcome:
    """``target(*args)`` in a limited child: ``done`` with its (picklable) return value,
    or ``failed`` with the error and traceback, the time limit, the memory limit or the
    signal that killed the child. ``target`` must be a module-level function."""
    start_fork_server()
    context = process_context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_in_sandbox,
        args=(send, target, args, limits, os.getcwd()),
        name=f"fedarena-{name}",
        daemon=True,
    )
    process.start()
    send.close()  # the child holds the only write end: its death closes the pipe
    started = time.monotonic()
    grace = EXIT_GRACE_S
    try:
        wait([receive, process.sentinel], timeout=limits.seconds)
        elapsed = time.monotonic() - started
        if receive.poll():
            try:
                return receive.recv()
            except (EOFError, OSError):
                process.join(EXIT_GRACE_S)
                return Outcome("failed", elapsed, reason=death_reason(process.exitcode))
        if not process.is_alive():
            return Outcome("failed", elapsed, reason=death_reason(process.exitcode))
        grace = 0.0
        return Outcome("failed", elapsed, reason=f"time limit of {limits.seconds:g} s exceeded")
    finally:
        process.join(grace)
        if process.is_alive():
            process.kill()
            process.join()
        receive.close()
        process.close()
