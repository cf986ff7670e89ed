"""Speed of one engine round on the default scenario: pytest-benchmark, with a saved baseline.

    .venv/bin/pytest benchmarks/bench_engine_round.py --benchmark-enable

One round of the in-process engine (``Federation.step``: sample 50 of 500
shoppers, build their batches, train them all at once with the vectorised
trainer, screen, aggregate with FedAvg, take the server step) on the default
shop (2,000 items, dim 16), one torch thread; evaluation is not part of a
round. Each timed call runs the next round of the same federation, so the
rounds differ only in which shoppers they sample. A second case times the
round under a Byzantine-robust defense (Krum) and an update attack (ALIE,
10 % malicious), where the attack's crafting and the defense's pairwise
distances are added to the same local training.

The saved baseline and how to compare against it: docs/ci.md. Not part of
the default ``pytest`` run (``testpaths = ["tests"]``).
"""

from __future__ import annotations

import itertools

import pytest
import torch

from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import build_world

torch.set_num_threads(1)

CASES = {
    "fedavg": Scenario(),
    "alie-krum": Scenario(attack="alie", malicious_fraction=0.1, defense="krum"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_engine_round(benchmark, case):
    scenario = CASES[case]
    world = build_world(scenario)
    federation = world.federation(users=world.init_users.clone())
    rounds = itertools.count()
    federation.step(next(rounds))  # warm-up: first-call allocations and lazy imports
    benchmark.group = "engine round, default scenario, 50 clients"
    benchmark.extra_info["shared_parameters"] = world.layout.dim
    benchmark.pedantic(lambda: federation.step(next(rounds)), rounds=10, iterations=1)
    assert all(torch.isfinite(federation.global_params))
