"""Run a scenario through Flower's simulation runtime (Ray): the engine ``flower``, ``simulate``.

One virtual SuperNode per shopper (``partition-id`` = shopper id), each running
``fedarena.flower.client_app.app`` in a pool of Ray actors of one CPU each; the
``ServerApp`` runs ``fedarena.flower.server_app.serve`` in this process, so
``on_round`` sees every round as the in-process engine's does.

Ray's start costs 10-15 s and about 1.8 GB; Ray keeps its files under
``RAY_TMPDIR`` (default ``/tmp``). ``run_simulation`` is the documented Python
entry point of Flower's simulation runtime; Flower 1.42 marks it deprecated in
favour of ``flwr run``, which would need a SuperLink process per run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flwr.app import Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.simulation import run_simulation

from fedarena.engine.federation import RoundRecord
from fedarena.errors import FedarenaError
from fedarena.flower import client_app
from fedarena.flower.logs import flower_logging, ray_init_args, wants_verbose
from fedarena.flower.server_app import serve
from fedarena.monitoring.observers import RoundObserver
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import build_world

if TYPE_CHECKING:
    from flwr.supercore.run import Run


class StoppableGrid(Grid):
    """A Grid that gives up as soon as ``stopped`` is set.

    Flower runs the ServerApp in a thread of its own; when the simulation
    runtime fails (Ray cannot start), that thread would otherwise wait for
    replies that never come, up to the round timeout (``round_timeout``) of each round.
    """

    def __init__(self, grid: Grid, stopped: threading.Event, poll_s: float = 0.1) -> None:
        self._grid = grid
        self._stopped = stopped
        self._poll_s = poll_s

    def _check(self) -> None:
        if self._stopped.is_set():
            raise FedarenaError("Flower's simulation runtime stopped")

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        self._check()
        return self._grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        self._check()
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        self._check()
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        pending = set(self.push_messages(messages))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.monotonic() < deadline):
            arrived = list(self.pull_messages(pending))
            replies.extend(arrived)
            pending -= {m.metadata.reply_to_message_id for m in arrived}
            if pending:
                time.sleep(self._poll_s)
        return replies


def simulate(
    scenario: Scenario,
    on_round: Callable[[RoundRecord], None] | None = None,
    verbose: bool | None = None,
    observer: RoundObserver | None = None,
) -> dict[str, Any]:
    """The engine ``flower``: the scenario's result document, computed by a Flower federation
    in simulation. ``verbose`` shows Flower's and Ray's own logs (default: only when
    ``FLWR_LOG_LEVEL`` is set); ``observer`` is told every round, as in-process."""
    verbose = wants_verbose(verbose)
    start = time.perf_counter()
    # Built before Ray starts, so that a bad spec fails in a second, not after Ray's start.
    world = build_world(scenario)
    results: list[dict[str, Any]] = []
    stopped = threading.Event()
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        results.append(
            serve(StoppableGrid(grid, stopped), world, on_round, verbose, start, observer)
        )

    try:
        with flower_logging(verbose):
            run_simulation(
                server_app=server,
                client_app=client_app.app,
                num_supernodes=len(world.population),
                backend_config={
                    "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                    "init_args": ray_init_args(verbose),
                },
            )
    finally:
        stopped.set()
    result = results[0]
    # Ray's start is in setup_s already; its shutdown belongs to the run's wall time too.
    result["timings"]["wall_s"] = time.perf_counter() - start
    return result
