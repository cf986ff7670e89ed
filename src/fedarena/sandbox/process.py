"""Run code that may misbehave (a cell, a submitted defense) in a child process with limits.

Children are forked from a ``forkserver`` that has imported torch and the
child-side code of its callers once (``preload_in_children``), so a child
starts in milliseconds and inherits no thread of the parent. A child caps its
address space, writes no core file, uses one torch thread and dies with its
parent (``fedarena.sandbox.child.apply_limits``). The parent waits at most the
time limit, then kills it; a child that dies without reporting is described
by its signal or status.

The matrix runner starts many such children at once
(``fedarena.matrix.runner.MatrixRunner``);
``run_limited`` runs one call and waits for it, as the conformance checks of a
submitted defense do.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from fedarena.sandbox.limits import Limits, Outcome, death_reason

EXIT_GRACE_S = 5.0
_PRELOAD = ["fedarena.sandbox.child"]


def preload_in_children(module: str) -> None:
    """Have the fork server import ``module`` (its callers' child-side code) before it forks.

    Called at import time by the modules that run children (the matrix runner,
    the conformance checks), so the fork server, started later, imports torch
    and their code once instead of once per child.
    """
    if module not in _PRELOAD:
        _PRELOAD.append(module)


def process_context() -> multiprocessing.context.ForkServerContext:
    """The fork server context, preloading every module registered with ``preload_in_children``."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(_PRELOAD))
    return context


def start_fork_server() -> None:
    """Start the fork server now, so that its imports overlap the parent's own."""
    process_context()
    multiprocessing.forkserver.ensure_running()


def _in_sandbox(
    connection: Connection,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    limits: Limits,
    cwd: str,
) -> None:
    # Imported here, where the fork server has already loaded it: the parent never needs it.
    from fedarena.sandbox.child import apply_limits, failed

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
