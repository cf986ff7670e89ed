"""Inside a limited child process: the limits it sets on itself and how it reports a failure.

A child caps its address space (``RLIMIT_AS``), writes no core file, trains
with one torch thread, and asks the kernel to kill it when its parent (the
fork server or the jail's supervisor, which die with the process that started
them) dies.
"""

from __future__ import annotations

import resource
import traceback

import torch

from fedarena.sandbox.lifetime import die_with_parent
from fedarena.sandbox.limits import Limits, Outcome, one_line, out_of_memory


def apply_limits(limits: Limits) -> None:
    """Called first in a child: memory cap, no core dumps, one thread, die with the parent."""
    cap = limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    die_with_parent()
    torch.set_num_threads(1)


def failed(err: Exception, limits: Limits, wall_s: float) -> Outcome:
    """The ``failed`` outcome of an exception being handled: its one line (the memory limit
    named when the error is an allocation failure) and its traceback."""
    reason = one_line(err)
    if out_of_memory(err):
        reason = f"memory limit of {limits.memory_mb} MiB exceeded ({reason})"
    return Outcome("failed", wall_s, reason=reason, traceback=traceback.format_exc())
