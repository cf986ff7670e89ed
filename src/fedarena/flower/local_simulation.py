"""``flwr run`` of a Flower App on a simulation SuperLink of its own: Flower's supported way
to simulate (``flwr.simulation.run_simulation`` is deprecated since Flower 1.42).

``run_app`` starts ``flower-superlink --simulation`` on free loopback ports with
Flower's files in a temporary ``FLWR_HOME``, runs ``flwr run APP --stream`` against it
with the federation's size and resources, and stops the SuperLink and every process
it spawned (SuperExec, the simulation process, Ray's daemons) by PID. Whatever
Flower and Ray print goes to ``log``, not to the console (unless ``verbose``).

A run that fails is one line (``FedarenaError``): Ray's out-of-memory kills say
"out of memory for Ray", other failures carry the last error line Flower logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from fedarena.errors import FedarenaError

CONNECTION = "fedarena-simulation"
START_TIMEOUT_S = 60.0
POLL_S = 0.2

#: What Ray and Flower write when Ray's memory monitor or the kernel killed a worker.
OUT_OF_MEMORY = re.compile(
    r"OutOfMemoryError|out of memory|running low on memory|memory monitor|"
    r"Workers? \(tasks / actors\) killed due to memory pressure|SYSTEM_ERROR.*memory",
    re.IGNORECASE,
)
EXCEPTION_LINE = re.compile(r"^\s*([\w.]+(Error|Exception): .*)$", re.MULTILINE)
ERROR_LINE = re.compile(r"^\s*(ERROR\b.*)$", re.MULTILINE)


class OutOfMemoryForRay(FedarenaError):
    """Ray, or a process of the simulation, ran out of memory."""


def run_app(
    app: Path,
    num_supernodes: int,
    run_config: Mapping[str, Any],
    log: IO[bytes],
    verbose: bool = False,
    poll: Callable[[], None] | None = None,
) -> None:
    """``flwr run app`` with ``run_config`` on ``num_supernodes`` virtual SuperNodes of one
    CPU each; ``poll`` is called every ``POLL_S`` seconds while the run goes on."""
    with tempfile.TemporaryDirectory(prefix="flwr-", dir=os.environ.get("RAY_TMPDIR")) as home:
        env = _environment(Path(home), verbose)
        port = _free_port()
        _write_connection(Path(env["FLWR_HOME"]), port)
        bin_dir = Path(sys.executable).parent
        superlink = subprocess.Popen(
            [
                str(bin_dir / "flower-superlink"),
                "--insecure",
                "--simulation",
                "--isolation",
                "subprocess",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--disable-runtime-dependency-installation",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_listening(superlink, port)
            run = subprocess.Popen(
                [
                    str(bin_dir / "flwr"),
                    "run",
                    str(app),
                    CONNECTION,
                    "--stream",
                    *_run_config_args(run_config),
                    "--federation-config",
                    _federation_config(num_supernodes, verbose),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            while run.poll() is None:
                if poll is not None:
                    poll()
                time.sleep(POLL_S)
            if poll is not None:
                poll()
        finally:
            stop_tree(superlink.pid)
            superlink.wait()


def failure(log_text: str, what: str) -> FedarenaError:
    """The one-line error of a simulation that ended without its result."""
    if OUT_OF_MEMORY.search(log_text):
        return OutOfMemoryForRay(
            f"{what}: out of memory for Ray (raise --cell-memory, or give the machine more "
            "memory); Flower's and Ray's log is kept with the run's log"
        )
    plain = _plain(log_text)
    errors = [m.group(1).strip() for m in EXCEPTION_LINE.finditer(plain)]
    errors = [e for e in errors if "An error was encountered" not in e] or errors
    errors = errors or [m.group(1).strip() for m in ERROR_LINE.finditer(plain)]
    reason = errors[-1] if errors else "no error logged"
    return FedarenaError(f"{what}: Flower's simulation ended without a result: {reason}")


def _plain(text: str) -> str:
    """``text`` without ANSI colour codes (Flower colours its logs even into files)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _environment(home: Path, verbose: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["FLWR_HOME"] = str(home / "flwr")
    Path(env["FLWR_HOME"]).mkdir()
    # Flower starts `flower-superexec` and `flwr-simulation` by name.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FLWR_DISABLE_UPDATE_CHECK"] = "1"
    # Components named `module:Class` import in Flower's processes as they do here.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if not verbose:
        env.pop("FLWR_LOG_LEVEL", None)
    return env


def _write_connection(flwr_home: Path, port: int) -> None:
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n'
        f'[superlink.{CONNECTION}]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
    )


def _run_config_args(run_config: Mapping[str, Any]) -> list[str]:
    """``--run-config`` overrides, in TOML: keys the App's pyproject must declare."""
    if not run_config:
        return []
    return ["--run-config", " ".join(f"{k}={json.dumps(v)}" for k, v in run_config.items())]


def _federation_config(num_supernodes: int, verbose: bool) -> str:
    values = {
        "num_supernodes": num_supernodes,
        "client_resources_num_cpus": 1,
        "client_resources_num_gpus": 0.0,
        "init_args_logging_level": "INFO" if verbose else "ERROR",
        "init_args_log_to_driver": verbose,
    }
    return " ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise FedarenaError(f"flower-superlink exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise FedarenaError(f"flower-superlink did not listen within {START_TIMEOUT_S:g} s")
        time.sleep(POLL_S)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from /proc; none elsewhere), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        kids = children.get(frontier.pop(), [])
        found.extend(kids)
        frontier.extend(kids)
    return found


def stop_tree(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM ``pid`` and its descendants (read first), SIGKILL what is left after ``grace_s``."""
    tree = [*descendants(pid), pid]
    for target in tree:
        _signal(target, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_alive(t) for t in tree) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for target in tree:
        if _alive(target):
            _signal(target, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
