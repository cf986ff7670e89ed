"""Run code that may misbehave (a cell, a submitted defense) in a child process with limits.

Children are forked from a ``forkserver`` that has imported torch and the
child-side code of its callers once (``preload_in_children``), so a child
starts in milliseconds and inherits no thread of the parent; the fork server
dies with the process that started it (``fedarena.sandbox.server``). A child
leads its own process group, caps its address space, writes no core file,
uses one torch thread and dies with its parent
(``fedarena.sandbox.child.apply_limits``). The parent waits at most the time
limit, then kills it; a child that dies without reporting is described by its
signal or status; and whatever the child forked dies with its group.

The matrix runner starts many such children at once
(``fedarena.matrix.runner.MatrixRunner``); ``run_limited`` runs one call and
waits for it, as the conformance checks of a submitted defense do, and
``wait_outcome`` waits for any child, forked or jailed
(``fedarena.sandbox.launcher``).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import Any

from fedarena.sandbox.launcher import Child, ForkedChild
from fedarena.sandbox.limits import Interim, Limits, Outcome, Ready, death_reason
from fedarena.sandbox.messages import UnsafeMessage

EXIT_GRACE_S = 5.0
_PRELOAD = ["fedarena.sandbox.server", "fedarena.sandbox.child", "fedarena.sandbox.launcher"]


def preload_in_children(*modules: str) -> None:
    """Have the fork server import ``modules`` (its callers' child-side code) before it forks.

    Called at import time by the modules that run children (the matrix runner,
    the conformance checks), so the fork server, started later, imports torch
    and their code once instead of once per child.
    """
    _PRELOAD.extend(module for module in modules if module not in _PRELOAD)


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


def read_outcome(
    child: Child, elapsed: float, on_interim: Callable[[Interim], None] | None = None
) -> Outcome | None:
    """Pass the child's ``Interim`` messages on (a ``Ready`` starts its time limit); its
    outcome if it has sent it (a closed pipe or an unsafe message is a failure), else
    ``None``."""
    while child.messages.poll():
        try:
            message = child.messages.recv()
        except (EOFError, OSError):
            child.join(EXIT_GRACE_S)
            return Outcome("failed", elapsed, reason=death_reason(child.exitcode))
        except UnsafeMessage as err:
            return Outcome("failed", elapsed, reason=str(err))
        if isinstance(message, Outcome):
            return message
        if isinstance(message, Ready):
            child.started = time.monotonic()
        if isinstance(message, Interim) and on_interim is not None:
            on_interim(message)
    return None


def wait_outcome(
    child: Child, limits: Limits, on_interim: Callable[[Interim], None] | None = None
) -> Outcome:
    """Wait for ``child``'s outcome at most ``limits.seconds``, then stop it (its group too):
    its outcome, or ``failed`` with the time limit or how it died."""
    grace = EXIT_GRACE_S
    try:
        while True:
            deadline = child.started + limits.seconds
            wait([child.messages, child.sentinel], timeout=max(deadline - time.monotonic(), 0))
            elapsed = max(time.monotonic() - child.started, 0.0)
            outcome = read_outcome(child, elapsed, on_interim)
            if outcome is None and not child.is_alive():
                # It may have written its outcome just before exiting: read once more.
                outcome = read_outcome(child, elapsed, on_interim) or Outcome(
                    "failed", elapsed, reason=death_reason(child.exitcode)
                )
            if outcome is not None:
                return outcome
            if time.monotonic() >= child.started + limits.seconds:
                grace = 0.0
                return Outcome(
                    "failed", elapsed, reason=f"time limit of {limits.seconds:g} s exceeded"
                )
    finally:
        child.stop(grace)


def run_limited(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    limits: Limits,
    name: str = "sandbox",
    context: BaseContext | None = None,
) -> Outcome:
    """``target(*args)`` in a limited child: ``done`` with its (picklable) return value,
    or ``failed`` with the error and traceback, the time limit, the memory limit or the
    signal that killed the child. ``target`` must be a module-level function; ``context``
    forks the child (default: the fork server; plain ``fork`` inside a jail)."""
    if context is None:
        start_fork_server()
        context = process_context()
    child = ForkedChild(context, _in_sandbox, (target, args, limits, os.getcwd()), name)
    return wait_outcome(child, limits)
