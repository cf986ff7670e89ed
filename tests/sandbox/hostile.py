"""Defenses that do what submitted code must not, given by path
(``tests/sandbox/hostile.py:Name``) to the conformance checks and to matrix cells.

Each does its harm in ``aggregate`` and then, where the harm leaves the run
alive, returns the plain mean; ``Probe`` raises an error listing what it tried
and whether it was refused, so that the test reads it in the check's detail or
the cell's reason.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from torch import Tensor

from fedarena.defenses import Aggregate, Aggregator, RoundContext


def _mean(updates: Tensor) -> Aggregate:
    return Aggregate(update=updates.mean(dim=0))


def _attempt(action) -> str:
    try:
        action()
    except OSError:
        return "refused"
    return "done"


class Probe:
    """Reads /etc/passwd and ``secret``, writes ``outside``, connects to 127.0.0.1:``port``;
    raises ``RuntimeError("passwd=... secret=... write=... connect=...")``."""

    def __init__(self, secret: str, outside: str, port: int) -> None:
        self.secret, self.outside, self.port = secret, outside, port

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        def connect() -> None:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                pass

        tried = {
            "passwd": _attempt(lambda: Path("/etc/passwd").read_bytes()),
            "secret": _attempt(lambda: Path(self.secret).read_bytes()),
            "write": _attempt(lambda: Path(self.outside).write_text("escaped")),
            "connect": _attempt(connect),
        }
        raise RuntimeError(" ".join(f"{k}={v}" for k, v in tried.items()))


def _sleeper(tag: float, escape: bool) -> None:
    """Fork a process that sleeps ``tag`` seconds (its command line marks it), optionally in
    a session of its own, out of its parent's process group."""
    if os.fork() == 0:
        if escape:
            os.setsid()
        os.execv("/bin/sleep", ["sleep", str(tag)])


class ForksGrandchild(Aggregator):
    """Leaves a sleeping process behind on every call (``sleep <tag>``), then averages (it
    passes every check)."""

    def __init__(self, tag: float, escape: bool = False) -> None:
        self.tag, self.escape = tag, escape

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        _sleeper(self.tag, self.escape)
        return _mean(updates)


class ForksThenExits:
    """Forks a sleeping helper (``sleep <tag>``), then exits with status 3 without reporting."""

    def __init__(self, tag: float) -> None:
        self.tag = tag

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        _sleeper(self.tag, escape=False)
        os._exit(3)


class KillsItsParent:
    """SIGKILLs its parent process (the fork server, outside a jail), then waits."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(30)
        return _mean(updates)


def sleeping(tag: float) -> list[int]:
    """The pids of the live ``sleep <tag>`` processes (for the tests, on the host)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if words[:2] == [b"sleep", str(tag).encode()] and state != "Z":
            found.append(int(entry.name))
    return found
