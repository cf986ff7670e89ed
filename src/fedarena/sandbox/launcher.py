"""Start a child that runs ``entry(connection, *args)``, forked or jailed, and handle both
alike: its messages, a sentinel to wait on, its exit code, its whole group killed.

A forked child comes from a multiprocessing context (the fork server outside a
jail, plain ``fork`` inside one) and makes itself a process-group leader
before anything else, so that killing its group also kills the helpers it
forked. A jailed child is a fresh interpreter under bubblewrap
(``fedarena.sandbox.bwrap``, ``fedarena.sandbox.jail``), given its call on
stdin; every process of the jail dies with it (its own PID namespace).

A forked child is started without the caller's script (``main_script_hidden``):
multiprocessing would import it again in every child, rerunning a plain
script or notebook-exported file that calls the Python API without an
``if __name__ == "__main__":`` guard; no child needs it, since what it runs
lives in fedarena.

``stop`` reaps a child (killing it after a grace period) and then kills what
is left of its group, so no process of a child outlives it; its exit code
stays readable afterwards. Messages are read through a ``Channel``, which
never unpickles anything but plain data and the allowed classes.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from fedarena.sandbox import bwrap
from fedarena.sandbox.lifetime import kill_group, lead_own_group
from fedarena.sandbox.limits import Ready
from fedarena.sandbox.messages import Channel

Entry = Callable[..., None]
START_S = 60.0  # the most a child may take to import its code (torch), on a loaded machine


class Child:
    """A started child: ``messages`` to read, ``sentinel`` to wait on, and its exit;
    ``started`` is when its time limit began (``time.monotonic``): when it sent ``Ready``,
    its code imported (until then, ``START_S`` after its launch), so that neither a fork
    server's start nor a jail's imports count against a cell."""

    messages: Channel
    pid: int
    started: float
    _exitcode: int | None = None
    _closed = False

    @property
    def sentinel(self) -> int:
        raise NotImplementedError

    @property
    def exitcode(self) -> int | None:
        """Its exit status, or minus the signal that killed it; ``None`` while it runs."""
        if self._closed:
            return self._exitcode
        return self._poll()

    def is_alive(self) -> bool:
        return not self._closed and self._poll() is None

    def join(self, timeout: float | None = None) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL the child and its process group."""
        raise NotImplementedError

    def stop(self, grace: float) -> None:
        """Reap the child, killing it if it is alive after ``grace`` seconds, then kill every
        process left in its group and free its resources (idempotent)."""
        if self._closed:
            return
        self.join(grace)
        if self.is_alive():
            self.kill()
            self.join()
        kill_group(self.pid)
        self._exitcode = self._poll()
        self._closed = True
        self.messages.close()
        self._release()

    def _poll(self) -> int | None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


def _grouped(connection: Connection, entry: Entry, args: tuple[Any, ...], isolate: bool) -> None:
    lead_own_group()  # first: nothing it forks can be outside its group unless it leaves
    if isolate:  # a plain fork inherits every file of its parent: keep stdio and the pipe
        os.closerange(3, connection.fileno())
        os.closerange(connection.fileno() + 1, os.sysconf("SC_OPEN_MAX"))
    connection.send(Ready())
    entry(connection, *args)


@contextmanager
def main_script_hidden() -> Iterator[None]:
    """While inside, the main module names no script (``__file__``) or module (``__spec__``),
    so that multiprocessing starts children without importing it (see the module docstring)."""
    main = sys.modules["__main__"]
    saved = {
        name: main.__dict__[name] for name in ("__file__", "__spec__") if name in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)


class ForkedChild(Child):
    """A child forked from a multiprocessing context, leading its own process group; from a
    plain ``fork`` (inside a jail), it first closes every file it inherited but its pipe, so
    that it cannot write on its parent's own channel."""

    def __init__(self, context: BaseContext, entry: Entry, args: tuple[Any, ...], name: str):
        receive, send = context.Pipe(duplex=False)
        isolate = context.get_start_method() == "fork"
        self.process: BaseProcess = context.Process(
            target=_grouped,
            args=(send, entry, args, isolate),
            name=f"fedarena-{name}",
            daemon=True,
        )
        with main_script_hidden():
            self.process.start()
        send.close()  # the child holds the only write end: its death closes the pipe
        self.pid = self.process.pid
        self.started = time.monotonic() + START_S
        self.messages = Channel(receive)
        self._sentinel = self.process.sentinel

    @property
    def sentinel(self) -> int:
        return self._sentinel

    def join(self, timeout: float | None = None) -> None:
        self.process.join(timeout)

    def kill(self) -> None:
        self.process.kill()
        kill_group(self.pid)

    def _poll(self) -> int | None:
        return self.process.exitcode

    def _release(self) -> None:
        self.process.close()


class JailedChild(Child):
    """A fresh interpreter under bubblewrap, seeing ``readable`` folders and a scratch folder
    of its own; the call goes in on stdin, the messages come back on an inherited pipe."""

    def __init__(self, entry: Entry, args: tuple[Any, ...], readable: Iterable[Path]):
        self.scratch = Path(tempfile.mkdtemp(prefix="fedarena-jail-"))
        receive, send = os.pipe()
        command = bwrap.command(readable, self.scratch, Path.cwd())
        command += [sys.executable, "-m", "fedarena.sandbox.jail", str(send)]
        try:
            self.popen = subprocess.Popen(
                command, stdin=subprocess.PIPE, pass_fds=(send,), process_group=0
            )
        finally:
            os.close(send)
        self.pid = self.popen.pid
        self.started = time.monotonic() + START_S
        self.messages = Channel(Connection(receive, writable=False))
        self._pidfd = os.pidfd_open(self.pid)
        with suppress(BrokenPipeError):  # one that died at once is told by its exit code
            pickle.dump((entry, args), self.popen.stdin)
            self.popen.stdin.close()

    @property
    def sentinel(self) -> int:
        return self._pidfd

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return

    def kill(self) -> None:
        kill_group(self.pid)

    def _poll(self) -> int | None:
        code = self.popen.poll()
        # bwrap exits with 128 + n when the jailed process was killed by signal n
        if code is not None and code > 128 and code - 128 in signal.valid_signals():
            return -(code - 128)
        return code

    def _release(self) -> None:
        os.close(self._pidfd)
        shutil.rmtree(self.scratch, ignore_errors=True)
