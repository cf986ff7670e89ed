"""A Ray cluster on this machine: nodes started with ``ray start --block`` on 127.0.0.1.

Each node is its own process tree with its own temp dir and ports, and is stopped by
killing exactly its processes (never ``ray stop``, which stops every Ray on the machine).
The two-node test of the Ray backend and ``benchmarks/ray_cluster.py`` run on it; it is
also a way to try ``fedarena matrix --backend ray --address`` without a cluster.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from types import TracebackType

RAY = Path(sys.executable).with_name("ray")
STOP_TIMEOUT_S = 30.0
PORT_FLAGS = (
    "--node-manager-port",
    "--object-manager-port",
    "--metrics-export-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes() -> dict[int, tuple[int, str]]:
    """Every live process: its parent and command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), command)
    return found


class LocalCluster:
    """A head node and ``nodes - 1`` more, ``cpus`` CPUs each, as a context manager; the
    ``address`` to pass to ``--address``."""

    def __init__(self, nodes: int = 2, cpus: int = 1) -> None:
        token = secrets.token_hex(3)
        self.temps = [Path(f"/tmp/ray-{token}{i}") for i in range(nodes)]
        self.cpus = cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []

    def __enter__(self) -> LocalCluster:
        try:
            head = ("--head", "--port", str(self.port), "--include-dashboard", "false")
            self.nodes.append(self._start(self.temps[0], *head))
            for temp in self.temps[1:]:
                self.nodes.append(self._start(temp, "--address", self.address))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def node_pids(self, index: int) -> set[int]:
        """Node ``index``'s processes: ``ray start --block``, what it started (GCS, raylet,
        workers...), and anything naming the node's temp dir that left that tree."""
        node, temp = self.nodes[index], self.temps[index]
        table = processes()
        found, frontier = {node.pid}, {node.pid}
        while frontier:
            frontier = {pid for pid, (parent, _) in table.items() if parent in frontier} - found
            found |= frontier
        return found | {pid for pid, (_, command) in table.items() if str(temp) in command}

    def kill(self, index: int) -> None:
        """Kill every process of node ``index`` (``kill -9``), as a lost machine would go."""
        for pid in self.node_pids(index):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Kill every node, the head last, wait until none of their processes is left, and
        remove their temp dirs."""
        for index in reversed(range(len(self.nodes))):
            self.kill(index)
            self.nodes[index].wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        for temp in self.temps:
            shutil.rmtree(temp, ignore_errors=True)

    def leftovers(self) -> set[int]:
        """Live processes that name one of the nodes' temp dirs."""
        temps = [str(temp) for temp in self.temps]
        return {pid for pid, (_, cmd) in processes().items() if any(t in cmd for t in temps)}

    def _start(self, temp: Path, *args: str) -> subprocess.Popen:
        """``ray start --block`` on 127.0.0.1 with ``temp`` and free ports, once it is up."""
        command = [str(RAY), "start", "--block", "--node-ip-address", "127.0.0.1", *args]
        command += ["--num-cpus", str(self.cpus), "--temp-dir", str(temp)]
        command += ["--disable-usage-stats"]
        for flag in PORT_FLAGS:
            command += [flag, str(free_port())]
        node = subprocess.Popen(
            command,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "RAY_health_check_period_ms": "1000"},
        )
        seen = []
        assert node.stdout is not None
        for line in node.stdout:
            seen.append(line)
            if "Ray runtime started" in line:
                return node
        node.wait(timeout=30)
        raise RuntimeError("ray start ended before the node was up: " + "".join(seen)[-2000:])
