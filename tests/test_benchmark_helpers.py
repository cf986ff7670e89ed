"""The benchmarks' helpers keep up with the code they measure (they are not run by the tests
otherwise, and an API change once broke one silently)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from fedarena.scenario.world import build_world
from tiny import TINY

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_memory_traffic_bound_adds_up_over_clients_and_counts_every_trained_row():
    cell_cost = _module("cell_cost")
    world = build_world(TINY)
    federation = world.federation(world.init_users.clone())
    timed = cell_cost.TimedTrainer(federation.trainer, world)

    def bound(clients):
        batches = federation.client_data.batches(0, np.array(clients), world.local, None)
        return timed.ideal_bytes(batches), batches

    both, batches = bound([3, 7])
    assert both == bound([3])[0] + bound([7])[0] > 0
    # The bound covers at least each step's distinct item rows, Adam's 7 accesses each.
    rows = [
        batches.items[r.start : r.stop][batches.weight[r.start : r.stop] > 0].unique().numel()
        for r in map(batches.rows, (0, 1))
    ]
    steps = batches.steps.tolist()
    assert both >= sum(s * 7 * 4 * n * (TINY.dim + 1) for s, n in zip(steps, rows, strict=True))
    federation.trainer = timed
    federation.step(0)
    assert timed.seconds > 0 and timed.bytes > 0
