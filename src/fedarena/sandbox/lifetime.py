"""No process outlives its owner: a child dies with its parent, and a child's whole process
group is killed with it.

``die_with_parent`` asks Linux to SIGKILL the caller when the thread that started it exits
(the fork server and every worker call it); ``kill_group`` kills a child's process group,
which also takes the helpers the child forked (a worker makes itself a group leader first).
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (no orphaned children)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent kills the children it outlives
        return


def lead_own_group() -> None:
    """Make this process the leader of a new process group, so that killing the group takes
    every process it forks (unless one leaves the group: only the jail stops that)."""
    try:
        os.setpgid(0, 0)
    except OSError:  # already a group or session leader
        return


def kill_group(pgid: int) -> None:
    """SIGKILL every process of group ``pgid`` still alive (none left is fine)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
