"""Measure the foundation's targets and print them (optionally into the README).

Targets (issue 2): on the default scenario federated NDCG@10 >= 0.9 x centralised
and clearly above popularity, the whole run <= 30 s on 2 cores; the vectorised
engine >= 5x faster per round than the sequential reference at 50 clients per
round; the same seed gives identical metrics.

    python benchmarks/targets.py                 # print
    python benchmarks/targets.py --readme README.md   # and rewrite the README's table
"""

from __future__ import annotations

import argparse
import platform
import re
import time
from pathlib import Path

import numpy as np
import torch

from fedarena.data.shoppers import PopulationConfig, simulate_population
from fedarena.model import ItemTower, SharedLayout, init_user_embeddings
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import load_catalog
from fedarena.training.local import build_batches, training_examples
from fedarena.training.sequential import SequentialTrainer
from fedarena.training.vectorised import VectorisedTrainer

START, END = "<!-- targets:start -->", "<!-- targets:end -->"


def engine_speed(scenario: Scenario, rounds: int = 5) -> tuple[float, float]:
    """Seconds per round of local training, vectorised and sequential, on the same batches."""
    catalog = load_catalog(scenario)
    population = simulate_population(
        catalog, PopulationConfig(n_shoppers=scenario.shoppers), scenario.seed
    )
    generator = torch.Generator().manual_seed(0)
    tower = ItemTower(catalog, dim=scenario.dim)
    tower.reset_parameters(generator)
    layout = SharedLayout.of(tower)
    init = layout.flatten(tower)
    users = init_user_embeddings(len(population), scenario.dim, generator)
    local = scenario.local_training()
    rng = np.random.default_rng(0)
    rounds_batches = []
    for _ in range(rounds):
        clients = rng.choice(len(population), scenario.clients_per_round, replace=False)
        rngs = [np.random.default_rng([0, int(c)]) for c in clients]
        data = [
            training_examples(*population.train_log(int(c)), len(catalog), local, r)
            for c, r in zip(clients, rngs, strict=True)
        ]
        rounds_batches.append((clients, build_batches(data, local, rngs)))
    timings = []
    for trainer in (VectorisedTrainer(tower, layout), SequentialTrainer(tower, layout)):
        trainer.train(init, users[rounds_batches[0][0]], rounds_batches[0][1], local)  # warm-up
        start = time.perf_counter()
        for clients, batches in rounds_batches:
            trainer.train(init, users[clients], batches, local)
        timings.append((time.perf_counter() - start) / rounds)
    return timings[0], timings[1]


def measure() -> list[tuple[str, str, str, str]]:
    """Rows of (quantity, measured, target, met)."""
    scenario = Scenario()
    first = run_scenario(scenario)
    second = run_scenario(scenario)
    fed = first["final"]["ndcg@10"]
    central = first["baselines"]["centralised"]["ndcg@10"]
    popular = first["baselines"]["popularity"]["ndcg@10"]
    vectorised, sequential = engine_speed(scenario)
    wall = first["timings"]["wall_s"]
    same = first["final"] == second["final"]
    return [
        ("federated NDCG@10", f"{fed:.4f}", "", ""),
        ("centralised NDCG@10", f"{central:.4f}", "", ""),
        ("popularity NDCG@10", f"{popular:.4f}", "", ""),
        ("local-only NDCG@10", f"{first['baselines']['local']['ndcg@10']:.4f}", "", ""),
        ("federated / centralised", f"{fed / central:.3f}", ">= 0.9", _yes(fed / central >= 0.9)),
        ("federated / popularity", f"{fed / popular:.3f}", "> 1.1", _yes(fed / popular > 1.1)),
        ("whole run wall time", f"{wall:.1f} s", "<= 30 s", _yes(wall <= 30)),
        (
            "local training per round, vectorised / sequential",
            f"{vectorised * 1000:.1f} ms / {sequential * 1000:.1f} ms",
            "",
            "",
        ),
        (
            "engine speed-up",
            f"{sequential / vectorised:.1f}x",
            ">= 5x",
            _yes(sequential / vectorised >= 5),
        ),
        ("same seed, identical final metrics", str(same), "True", _yes(same)),
    ]


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def as_markdown(rows: list[tuple[str, str, str, str]]) -> str:
    lines = [
        "| quantity | measured | target | met |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        f"Default scenario (2,000 items, 500 shoppers, 50 per round, 30 rounds, seed 0) on "
        f"{platform.machine()} with {torch.get_num_threads()} torch threads; "
        "`python benchmarks/targets.py --readme README.md` regenerates this table.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="rewrite the table between the markers here")
    args = parser.parse_args()
    table = as_markdown(measure())
    print(table)
    if args.readme:
        text = args.readme.read_text()
        block = f"{START}\n{table}\n{END}"
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"{args.readme}: no {START} ... {END} block to rewrite")
        args.readme.write_text(pattern.sub(lambda _: block, text))


if __name__ == "__main__":
    main()
