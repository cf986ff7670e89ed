"""fedarena's Flower ``ServerApp``: find the shoppers' nodes, run the rounds, write the result.

The same ``serve`` runs under Flower's simulation runtime
(``fedarena.flower.simulation.simulate``) and under a deployment
(``flwr run flower-app <superlink>``; see ``docs/flower.md``). In a
deployment the scenario comes from the run config: every field of
``fedarena.scenario.spec.Scenario`` under its own name, plus ``out`` (a path
on the SuperLink's machine for the result JSON, empty for none),
``verbose`` (Flower's own INFO logs), ``metrics_port`` and ``round_timeout``
(seconds a round waits for replies before it drops the silent clients).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from fedarena.engine.federation import RoundRecord
from fedarena.errors import FedarenaError
from fedarena.flower.hosting import (
    NUM_PARTITIONS,
    PARTITION_ID,
    MissingPartition,
    Partition,
    shopper_nodes,
)
from fedarena.flower.logs import configure_flower_logging
from fedarena.flower.messages import CONFIG, NODE, params_record
from fedarena.flower.strategy import ROUND_TIMEOUT_S, FedarenaStrategy
from fedarena.io import write_json_atomic
from fedarena.monitoring.observers import RoundObserver
from fedarena.scenario.result import Clock, run_document
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import World, build_world

DISCOVERY_TIMEOUT_S = 300.0
POLL_S = 0.5

app = ServerApp()


@dataclass(frozen=True)
class AppConfig:
    """The Flower App's run config: a scenario, where to write its result, how loud to be."""

    scenario: Scenario
    out: str = ""
    verbose: bool = False
    metrics_port: int = 0
    round_timeout: float = ROUND_TIMEOUT_S
    progress: str = ""

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> AppConfig:
        values = dict(run_config)
        out = values.pop("out", "")
        verbose = values.pop("verbose", False)
        port = values.pop("metrics_port", 0)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise FedarenaError(
                f"run config: metrics_port must be a port in 0..65535, got {port!r}"
            )
        timeout = values.pop("round_timeout", ROUND_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise FedarenaError(
                f"run config: round_timeout must be a number of seconds > 0, got {timeout!r}"
            )
        progress = values.pop("progress", "")
        scenario = Scenario.from_dict(values, where="run config")
        return cls(scenario, str(out), bool(verbose), port, float(timeout), str(progress))


def discover(grid: Grid, n_shoppers: int, timeout: float = DISCOVERY_TIMEOUT_S) -> dict[int, int]:
    """Ask every connected node which shoppers it hosts until all ``n_shoppers`` have one.

    Returns shopper -> node id. Waits for nodes still connecting; a node that
    cannot say (no partition in its ``--node-config``) or an incomplete
    federation after ``timeout`` seconds is an error.
    """
    partitions: dict[int, Partition] = {}
    deadline = time.monotonic() + timeout
    while True:
        new = [node for node in grid.get_node_ids() if node not in partitions]
        queries = [
            Message(
                RecordDict({CONFIG: ConfigRecord()}),
                dst_node_id=node,
                message_type=MessageType.QUERY,
            )
            for node in new
        ]
        for reply in grid.send_and_receive(queries, timeout=timeout) if queries else []:
            node = reply.metadata.src_node_id
            if reply.has_error():
                reason = reply.error.reason
                raise FedarenaError(f"SuperNode {node} cannot say what it hosts: {reason}")
            record = reply.content[NODE]
            partitions[node] = Partition(int(record[PARTITION_ID]), int(record[NUM_PARTITIONS]))
        try:
            return shopper_nodes(partitions, n_shoppers)
        except MissingPartition:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


def serve(
    grid: Grid,
    world: World,
    on_round: Callable[[RoundRecord], None] | None = None,
    verbose: bool = False,
    start: float | None = None,
    observer: RoundObserver | None = None,
    round_timeout: float = ROUND_TIMEOUT_S,
) -> dict[str, Any]:
    """Run the scenario's rounds over ``grid`` and return its result document; ``observer``
    is told every round.

    A round waits ``round_timeout`` seconds for replies; the clients still silent then are
    dropped from it, and the document's round records list them (``dropped_shoppers``,
    ``dropped_nodes``; empty lists when every client answered).
    """
    start = time.perf_counter() if start is None else start
    nodes = discover(grid, len(world.population))
    scenario = world.scenario
    # The server holds no private embedding; the field is only read for its width.
    federation = world.federation(users=world.init_users.new_zeros(0, scenario.dim))
    federation.observer = observer
    strategy = FedarenaStrategy(scenario, federation, nodes, on_round, verbose, round_timeout)
    setup_end = time.perf_counter()
    strategy.start(
        grid,
        params_record(federation.global_params),
        num_rounds=scenario.rounds,
        timeout=round_timeout,
        evaluate_fn=strategy.evaluate,
    )
    document = run_document(world, federation, Clock(start, setup_end, time.perf_counter()))
    for record in document["rounds"]:
        dropped = strategy.dropped.get(record["round"])
        record["dropped_shoppers"] = dropped.shoppers if dropped else []
        record["dropped_nodes"] = dropped.nodes if dropped else []
    return document


def _print_round(record: RoundRecord) -> None:
    ndcg = record.metrics.get("ndcg@10")
    print(
        f"fedarena round {record.round + 1}: loss {record.train_loss:.4f}"
        + (f"  NDCG@10 {ndcg:.4f}" if ndcg is not None else ""),
        flush=True,
    )


class ProgressFile:
    """Every round's record and observer call as JSON lines in ``path``, for the process
    that started the run (``fedarena.flower.simulation``) to replay in order."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, record: RoundRecord) -> None:
        self._write({"record": asdict(record)})

    def on_round(self, **values: Any) -> None:
        self._write({"observed": values})

    def _write(self, line: dict[str, Any]) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(line) + "\n")


def _observer(config: AppConfig) -> RoundObserver | None:
    """Prometheus metrics of the rounds on ``metrics_port`` (0: none)."""
    if not config.metrics_port:
        return None
    from fedarena.monitoring.exporter import start_exporter
    from fedarena.monitoring.metrics import Metrics, PrometheusRoundObserver

    metrics = Metrics()
    exporter = start_exporter(config.metrics_port, metrics.registry, option="metrics_port")
    print(f"fedarena metrics at {exporter.url}", flush=True)
    return PrometheusRoundObserver(metrics)


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Deployment entry point: the scenario from the run config, the result to ``out``."""
    config = AppConfig.from_run_config(context.run_config)
    configure_flower_logging(config.verbose)
    on_round, observer = _print_round, _observer(config)
    if config.progress:
        on_round = observer = ProgressFile(Path(config.progress))
    result = serve(
        grid,
        build_world(config.scenario),
        on_round,
        config.verbose,
        observer=observer,
        round_timeout=config.round_timeout,
    )
    if config.out:
        write_json_atomic(Path(config.out), result, allow_nan=True)
    final = result["final"]
    print(
        f"fedarena done: NDCG@10 {final['ndcg@10']:.4f}  HR@10 {final['hr@10']:.4f}  "
        f"AUC {final['auc']:.4f}" + (f"; result written to {config.out}" if config.out else ""),
        flush=True,
    )
