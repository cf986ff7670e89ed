"""Start Flower's SuperLink, SuperNodes and CLI for tests, and stop every process they started.

Everything Flower and Ray write goes under one temporary folder (``FLWR_HOME``,
``RAY_TMPDIR``, ``XDG_CACHE_HOME``). Processes are stopped by PID: before a
started process is signalled, its descendants (the SuperExec and app
processes Flower spawns) are read from ``/proc``, so that none outlives the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fedarena.flower.local_simulation import descendants

BIN = Path(sys.executable).parent
CONNECTION = "fedarena-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flower_env(home: Path) -> dict[str, str]:
    """This interpreter's environment with Flower's and Ray's files under ``home``."""
    env = dict(os.environ)
    for name in ("FLWR_HOME", "RAY_TMPDIR", "XDG_CACHE_HOME"):
        folder = home / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    # Flower starts `flower-superexec`, `flwr-serverapp` and `flwr-clientapp` by name.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("FLWR_LOG_LEVEL", None)
    return env


def write_connection(
    env: dict[str, str], address: str, root_certificates: Path | None, name: str = CONNECTION
) -> None:
    """Add the SuperLink connection ``name`` to the Flower configuration file (``CONNECTION``,
    the first one written, is the default)."""
    security = (
        f'root-certificates = "{root_certificates}"' if root_certificates else "insecure = true"
    )
    path = Path(env["FLWR_HOME"], "config.toml")
    text = path.read_text() if path.exists() else f'[superlink]\ndefault = "{CONNECTION}"\n'
    path.write_text(f'{text}\n[superlink.{name}]\naddress = "{address}"\n{security}\n')


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Processes:
    """The processes a test started; ``stop`` ends them and all they spawned, by PID."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.started: list[subprocess.Popen] = []
        self.stopped: list[int] = []

    def start(self, name: str, command: Sequence[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def run(self, name: str, command: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
        """Run a command to completion (stopped by PID, with its children, on timeout)."""
        process = self.start(name, command)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._stop_tree(process.pid)
            raise
        return subprocess.CompletedProcess(command, process.returncode, self.log(name), "")

    def _stop_tree(self, pid: int) -> None:
        tree = [*descendants(pid), pid]
        for target in tree:
            if alive(target):
                os.kill(target, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(alive(t) for t in tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        for target in tree:
            if alive(target):
                os.kill(target, signal.SIGKILL)
        self.stopped.extend(tree)

    def stop(self) -> None:
        for process in reversed(self.started):
            self._stop_tree(process.pid)
            process.wait(timeout=10)

    def still_alive(self) -> list[int]:
        return [pid for pid in self.stopped if alive(pid)]
