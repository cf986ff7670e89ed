"""Run a scenario through Flower's simulation runtime (Ray): the engine ``flower``, ``simulate``.

The run is Flower's supported simulation path, the one ``flwr run flower-app`` takes on
a local simulation connection: ``fedarena.flower.local_simulation.run_app`` runs a
Flower App whose components are ``fedarena.flower.server_app:app`` and
``fedarena.flower.client_app:app`` on one virtual SuperNode per shopper
(``partition-id`` = shopper id), each a Ray actor of one CPU. The scenario travels as
the App's run config; the ServerApp writes each round (and each round-observer call)
to a progress file that this process replays into ``on_round`` and ``observer``, and
the result document to a file read at the end.

Ray's start costs 10-15 s and about 1.8 GB; Ray keeps its files under ``RAY_TMPDIR``
(default ``/tmp``). Flower's and Ray's own output goes to a log file, not the console:
``FEDARENA_FLOWER_LOG`` names it (appended to); unset, it is kept only when the run
fails, and the error names it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from fedarena.engine.federation import RoundRecord
from fedarena.flower.local_simulation import failure, run_app
from fedarena.flower.logs import wants_verbose
from fedarena.monitoring.observers import RoundObserver
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import build_world

LOG_ENV = "FEDARENA_FLOWER_LOG"

APP_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "fedarena-flower"
version = "0.1.0"
description = "A fedarena scenario as a Flower App"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "fedarena"

[tool.flwr.app.components]
serverapp = "fedarena.flower.server_app:app"
clientapp = "fedarena.flower.client_app:app"

[tool.flwr.app.config]
"""


def simulate(
    scenario: Scenario,
    on_round: Callable[[RoundRecord], None] | None = None,
    verbose: bool | None = None,
    observer: RoundObserver | None = None,
) -> dict[str, Any]:
    """The engine ``flower``: the scenario's result document, computed by a Flower federation
    in simulation. ``verbose`` also copies Flower's and Ray's own logs to stderr (default:
    only when ``FLWR_LOG_LEVEL`` is set); ``observer`` is told every round, as in-process."""
    verbose = wants_verbose(verbose)
    start = time.perf_counter()
    # Built before Ray starts, so that a bad spec fails in a second, not after Ray's start.
    world = build_world(scenario)
    with tempfile.TemporaryDirectory(prefix="fedarena-flower-") as folder:
        folder_path = Path(folder)
        app = folder_path / "app"
        app.mkdir()
        out, progress = folder_path / "result.json", folder_path / "rounds.jsonl"
        # Flower accepts only run-config overrides of keys the App declares: the App
        # declares this run's values.
        run_config = {
            **scenario.to_dict(),
            "out": str(out),
            "progress": str(progress),
            "verbose": verbose,
        }
        (app / "pyproject.toml").write_text(APP_PYPROJECT + tomli_w.dumps(run_config))
        replay = Replay(progress, on_round, observer)
        log_path = Path(os.environ.get(LOG_ENV) or folder_path / "flower.log")
        with log_path.open("ab") as log:
            run_app(app, len(world.population), {}, log, verbose, poll=replay)
        text = log_path.read_text(errors="replace")
        if verbose:
            sys.stderr.write(text)
        if not out.exists():
            kept = log_path if os.environ.get(LOG_ENV) else _keep(log_path)
            raise failure(text, f"engine flower (log: {kept})")
        result = json.loads(out.read_text())
    # The SuperLink's and Ray's start are in setup_s already; their shutdown belongs to the
    # run's wall time too.
    result["timings"]["wall_s"] = time.perf_counter() - start
    return result


class Replay:
    """Calls ``on_round`` and ``observer`` with what the ServerApp wrote to ``progress``
    (``fedarena.flower.server_app.ProgressFile``), each line once, in order."""

    def __init__(
        self,
        progress: Path,
        on_round: Callable[[RoundRecord], None] | None,
        observer: RoundObserver | None,
    ) -> None:
        self.progress = progress
        self.on_round = on_round
        self.observer = observer
        self._offset = 0

    def __call__(self) -> None:
        if not self.progress.exists():
            return
        with self.progress.open() as file:
            file.seek(self._offset)
            while (line := file.readline()).endswith("\n"):
                self._offset = file.tell()
                self._replay(json.loads(line))

    def _replay(self, line: dict[str, Any]) -> None:
        if "observed" in line and self.observer is not None:
            self.observer.on_round(**line["observed"])
        if "record" in line and self.on_round is not None:
            values = line["record"]
            values["update_norms"] = tuple(values["update_norms"])
            self.on_round(RoundRecord(**values))


def _keep(log: Path) -> Path:
    """A copy of a failed run's log that outlives the run's temporary folder."""
    fd, kept = tempfile.mkstemp(prefix="fedarena-flower-", suffix=".log")
    os.close(fd)
    shutil.copyfile(log, kept)
    return Path(kept)
