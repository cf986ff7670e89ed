"""A plain Flower App: every client pulls a 4-number model towards ones; client 0 is
malicious and sends a huge update. The ServerApp aggregates with FedAvg, or with a
fedarena defense through ``Defended`` when the run config names one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, Strategy

from fedarena.flower.defended import Defended

DIM = 4
HUGE = 1e6

client = ClientApp()
server = ServerApp()


@client.train()
def train(message: Message, context: Context) -> Message:
    """Half-way towards ones (client 0: a huge step away), 10 examples."""
    w = message.content["arrays"]["w"].numpy()
    honest = w + 0.5 * (np.ones(DIM, dtype=np.float32) - w)
    sent = w + HUGE if context.node_config["partition-id"] == 0 else honest
    content = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(sent.astype(np.float32))}),
            "metrics": MetricRecord({"num-examples": 10}),
        }
    )
    return Message(content, reply_to=message)


def strategy_for(defense: str, f: int) -> Strategy:
    """FedAvg over every node, defended when ``defense`` names a fedarena defense."""
    # docs/flower.md, "A fedarena defense in your own Flower app":
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0)
    if defense:
        strategy = Defended(strategy, defense, f=f)
    return strategy


def run(grid: Grid, defense: str, f: int, rounds: int) -> np.ndarray:
    """The final model after ``rounds`` rounds from zeros."""
    initial = ArrayRecord({"w": Array(np.zeros(DIM, dtype=np.float32))})
    result = strategy_for(defense, f).start(grid, initial, num_rounds=rounds)
    return result.arrays["w"].numpy()


@server.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    w = run(grid, str(config["defense"]), int(config["f"]), int(config["rounds"]))
    if config["out"]:
        Path(str(config["out"])).write_text(json.dumps(w.tolist()))
