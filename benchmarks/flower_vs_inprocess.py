"""Time one scenario through the in-process engine and through Flower's simulation runtime.

Both runs happen in this process, one after the other, on the same scenario
and seed; the script prints their timings, the ratio Flower / in-process, and
how far their final metrics are apart (the engines are meant to agree).

    python benchmarks/flower_vs_inprocess.py                       # default scenario
    python benchmarks/flower_vs_inprocess.py --rounds 5 --shoppers 100 --clients-per-round 20
    python benchmarks/flower_vs_inprocess.py --docs docs/flower.md # and rewrite the docs table

Ray's files go to ``RAY_TMPDIR`` (default /tmp); baselines are skipped in both
runs (the same code computes them in either engine).
"""

from __future__ import annotations

import argparse
import platform
import re
from dataclasses import replace
from pathlib import Path

import torch

from fedarena.flower.simulation import simulate
from fedarena.metrics import METRIC_KEYS
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

START, END = "<!-- flower-bench:start -->", "<!-- flower-bench:end -->"


def measure(scenario: Scenario) -> tuple[list[tuple[str, str, str, str]], float]:
    """Rows of (quantity, in-process, Flower, ratio or difference) and the largest metric gap."""
    # Warm-up: first calls of torch's kernels would otherwise be charged to whichever runs first.
    run_scenario(replace(scenario, rounds=1), compare_clean=False)
    in_process = run_scenario(scenario, compare_clean=False)
    flower = simulate(scenario)
    a, b = in_process["timings"], flower["timings"]
    rows = [
        (
            "whole run (s)",
            f"{a['wall_s']:.2f}",
            f"{b['wall_s']:.2f}",
            f"{b['wall_s'] / a['wall_s']:.1f}x",
        ),
        (
            "set-up (s)",
            f"{a['setup_s']:.2f}",
            f"{b['setup_s']:.2f}",
            f"{b['setup_s'] / a['setup_s']:.1f}x",
        ),
        (
            "per round (s)",
            f"{a['per_round_s']:.3f}",
            f"{b['per_round_s']:.3f}",
            f"{b['per_round_s'] / a['per_round_s']:.1f}x",
        ),
    ]
    gap = 0.0
    for key in METRIC_KEYS:
        x, y = in_process["final"][key], flower["final"][key]
        gap = max(gap, abs(x - y))
        rows.append((f"final {key}", f"{x:.6f}", f"{y:.6f}", f"diff {abs(x - y):.1e}"))
    return rows, gap


def table(rows: list[tuple[str, str, str, str]], scenario: Scenario) -> str:
    lines = [
        "| quantity | in-process | Flower simulation | Flower / in-process |",
        "|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        f"Scenario: {scenario.items} items, {scenario.shoppers} shoppers, "
        f"{scenario.clients_per_round} per round, {scenario.rounds} rounds, seed {scenario.seed}, "
        f"no baselines; {platform.machine()} with {torch.get_num_threads()} torch threads. "
        "Flower's set-up includes Ray's start and asking every virtual SuperNode which "
        "shopper it hosts. `python benchmarks/flower_vs_inprocess.py --docs docs/flower.md` "
        "regenerates this table.",
    ]
    return "\n".join(lines)


def main() -> None:
    defaults = Scenario()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--shoppers", type=int, default=defaults.shoppers)
    parser.add_argument("--clients-per-round", type=int, default=defaults.clients_per_round)
    parser.add_argument("--items", type=int, default=defaults.items)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--docs", type=Path, help="rewrite the table between the markers here")
    args = parser.parse_args()
    scenario = Scenario(
        rounds=args.rounds,
        shoppers=args.shoppers,
        clients_per_round=args.clients_per_round,
        items=args.items,
        seed=args.seed,
        baselines=False,
    )
    rows, gap = measure(scenario)
    text = table(rows, scenario)
    print(text)
    print(f"largest final-metric difference: {gap:.1e}")
    if args.docs is not None:
        document = args.docs.read_text()
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
        if not pattern.search(document):
            raise SystemExit(f"{args.docs} has no {START} ... {END} markers")
        args.docs.write_text(pattern.sub(f"{START}\n{text}\n{END}", document))


if __name__ == "__main__":
    main()
