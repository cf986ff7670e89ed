"""Measure the attacks' evidence under FedAvg and print it (optionally into docs/attacks.md).

Issue 3 expects, on the default scenario under FedAvg: with 10 % malicious
shoppers, model replacement drives ER@10 from about 0 to >= 0.8 within the
run, and label flipping and ALIE visibly lower NDCG@10; 5 % Sybil promoters
lift ER@10 well above 0. Every run here is a plain ``run_scenario`` of the
default scenario; the clean reference of a seed is ``model_replacement`` with
no malicious shopper, which trains exactly as ``attack = none`` but draws the
same target items as the attacked runs, so its ER@10 is the no-attack value.

    python scripts/attack_evidence.py                          # print
    python scripts/attack_evidence.py --docs docs/attacks.md   # and rewrite its tables
"""

from __future__ import annotations

import argparse
import inspect
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fedarena.attacks import ATTACKS
from fedarena.registry import accepted_options
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

EVIDENCE = ("<!-- attack-evidence:start -->", "<!-- attack-evidence:end -->")
CATALOGUE = ("<!-- attack-catalogue:start -->", "<!-- attack-catalogue:end -->")
CLEAN = ("model_replacement", 0.0)
FINDINGS = {
    "model replacement, 10 %": ("model_replacement", 0.1),
    "label flipping, 10 %": ("label_flip", 0.1),
    "ALIE, 10 %": ("alie", 0.1),
    "Sybil promoters, 5 %": ("sybil", 0.05),
}
OTHERS = ("sign_flip", "gaussian", "ipm", "min_max", "min_sum", "garbage")
SHOWN_ROUNDS = (1, 2, 3, 5, 10, 15, 20, 25, 30)
# What the words are taken to mean, stated here so the verdicts can be checked.
ER_REACHED = 0.8  # "ER@10 >= 0.8 within the run": some round's ER@10
VISIBLE_DROP = 0.01  # "visibly lower NDCG@10": lower by >= 0.01 (about 4 %) in every seed
WELL_ABOVE_ZERO = 0.1  # "ER@10 well above 0": final ER@10 >= 0.1 in every seed


@dataclass(frozen=True)
class Run:
    """The numbers kept from one run."""

    spec: str
    fraction: float
    seed: int
    final: dict[str, float]
    er_by_round: list[float]
    wall_s: float


def _run(job: tuple[str, float, int, int]) -> Run:
    spec, fraction, seed, rounds = job
    torch.set_num_threads(1)
    scenario = Scenario(
        attack=spec, malicious_fraction=fraction, seed=seed, rounds=rounds, baselines=False
    )
    result = run_scenario(scenario, compare_clean=False)
    return Run(
        spec=spec,
        fraction=fraction,
        seed=seed,
        final={k: v for k, v in result["final"].items() if isinstance(v, float)},
        er_by_round=[r.get("er@10", float("nan")) for r in result["rounds"]],
        wall_s=result["timings"]["wall_s"],
    )


def measure(seeds: list[int], rounds: int, workers: int) -> dict[tuple[str, float, int], Run]:
    """Every run the tables need, keyed by (attack, malicious fraction, seed)."""
    jobs = [(*CLEAN, s, rounds) for s in seeds]
    jobs += [(spec, fraction, s, rounds) for spec, fraction in FINDINGS.values() for s in seeds]
    jobs += [(name, 0.1, seeds[0], rounds) for name in OTHERS]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        runs = list(pool.map(_run, jobs))
    return {(r.spec, r.fraction, r.seed): r for r in runs}


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f}"


def _spread(values: list[float]) -> str:
    """Mean, and the range over seeds when there are several."""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ({min(values):.4f} to {max(values):.4f})"


def findings_table(runs: dict, seeds: list[int]) -> list[str]:
    clean = [runs[(*CLEAN, s)] for s in seeds]
    rows = [
        "| finding | measure | no attack | attacked | expected (issue 3) | reproduced |",
        "|---|---|---|---|---|---|",
    ]
    spec, fraction = FINDINGS["model replacement, 10 %"]
    attacked = [runs[(spec, fraction, s)] for s in seeds]
    best = [max(r.er_by_round) for r in attacked]
    first = [
        next((t + 1 for t, e in enumerate(r.er_by_round) if e >= ER_REACHED), None)
        for r in attacked
    ]
    rows.append(
        f"| model replacement, 10 % | highest ER@10 over the rounds | "
        f"{_spread([max(r.er_by_round) for r in clean])} | {_spread(best)} | "
        f">= {ER_REACHED} within the run | {'yes' if min(best) >= ER_REACHED else 'no'} |"
    )
    rows.append(
        f"| | first round with ER@10 >= {ER_REACHED} | | "
        f"{', '.join('never' if t is None else str(t) for t in first)} | | |"
    )
    rows.append(
        f"| | ER@10 after the last round | {_spread([r.final['er@10'] for r in clean])} | "
        f"{_spread([r.final['er@10'] for r in attacked])} | | |"
    )
    rows.append(
        f"| | NDCG@10 after the last round | {_spread([r.final['ndcg@10'] for r in clean])} | "
        f"{_spread([r.final['ndcg@10'] for r in attacked])} | | |"
    )
    for label in ("label flipping, 10 %", "ALIE, 10 %"):
        spec, fraction = FINDINGS[label]
        attacked = [runs[(spec, fraction, s)] for s in seeds]
        drops = [
            c.final["ndcg@10"] - a.final["ndcg@10"] for c, a in zip(clean, attacked, strict=True)
        ]
        rows.append(
            f"| {label} | NDCG@10 after the last round | "
            f"{_spread([r.final['ndcg@10'] for r in clean])} | "
            f"{_spread([r.final['ndcg@10'] for r in attacked])} | "
            f"visibly lower (by >= {VISIBLE_DROP} every seed) | "
            f"{'yes' if min(drops) >= VISIBLE_DROP else 'no'} |"
        )
        rows.append(f"| | drop of NDCG@10 | | {_spread(drops)} | | |")
    spec, fraction = FINDINGS["Sybil promoters, 5 %"]
    attacked = [runs[(spec, fraction, s)] for s in seeds]
    finals = [r.final["er@10"] for r in attacked]
    rows.append(
        f"| Sybil promoters, 5 % | ER@10 after the last round | "
        f"{_spread([r.final['er@10'] for r in clean])} | {_spread(finals)} | "
        f"well above 0 (>= {WELL_ABOVE_ZERO} every seed) | "
        f"{'yes' if min(finals) >= WELL_ABOVE_ZERO else 'no'} |"
    )
    rows.append(
        f"| | mean rank of the target (of {Scenario().items}) | "
        f"{_spread([r.final['target_rank'] for r in clean])} | "
        f"{_spread([r.final['target_rank'] for r in attacked])} | | |"
    )
    return rows


def rounds_table(runs: dict, seed: int) -> list[str]:
    series = {
        "no attack": runs[(*CLEAN, seed)],
        "model replacement, 10 %": runs[(*FINDINGS["model replacement, 10 %"], seed)],
        "Sybil promoters, 5 %": runs[(*FINDINGS["Sybil promoters, 5 %"], seed)],
    }
    shown = [t for t in SHOWN_ROUNDS if t <= len(series["no attack"].er_by_round)]
    rows = [
        "| ER@10 after round | " + " | ".join(str(t) for t in shown) + " |",
        "|---" * (len(shown) + 1) + "|",
    ]
    for label, run in series.items():
        rows.append(
            f"| {label} | " + " | ".join(f"{run.er_by_round[t - 1]:.3f}" for t in shown) + " |"
        )
    return rows


def others_table(runs: dict, seed: int) -> list[str]:
    clean = runs[(*CLEAN, seed)].final["ndcg@10"]
    rows = ["| attack, 10 % | NDCG@10 | drop |", "|---|---|---|"]
    for name in OTHERS:
        ndcg = runs[(name, 0.1, seed)].final["ndcg@10"]
        rows.append(f"| {name} | {ndcg:.4f} | {clean - ndcg:.4f} |")
    return rows


def evidence(seeds: list[int], rounds: int, workers: int) -> str:
    start = time.perf_counter()
    runs = measure(seeds, rounds, workers)
    elapsed = time.perf_counter() - start
    default = replace(Scenario(), rounds=rounds)
    lines = [
        f"Default scenario ({default.items:,} items, {default.shoppers} shoppers, "
        f"{default.clients_per_round} per round, {default.rounds} rounds), FedAvg, "
        f"seeds {', '.join(map(str, seeds))}: mean over seeds, range in brackets.",
        "",
        *findings_table(runs, seeds),
        "",
        f"ER@10 round by round, seed {seeds[0]}:",
        "",
        *rounds_table(runs, seeds[0]),
        "",
        f"The other update attacks at 10 %, seed {seeds[0]} (NDCG@10 without attack "
        f"{runs[(*CLEAN, seeds[0])].final['ndcg@10']:.4f}):",
        "",
        *others_table(runs, seeds[0]),
        "",
        f"{len(runs)} runs in {elapsed:.0f} s with {workers} worker processes; "
        "`python scripts/attack_evidence.py --docs docs/attacks.md` regenerates these tables.",
    ]
    return "\n".join(lines)


def catalogue() -> str:
    """One row per registered attack: where it acts, what it knows, its goal and options."""
    rows = ["| attack | acts on | knowledge | goal | options (default) |", "|---|---|---|---|---|"]
    default = Scenario()
    per_round = round(0.1 * default.clients_per_round)
    for name in ATTACKS.names():
        factory = ATTACKS.factory(name)
        attack = ATTACKS.create(name, n_malicious=per_round, n_clients=default.clients_per_round)
        parameters = inspect.signature(factory).parameters
        options = ", ".join(f"`{o}={parameters[o].default!r}`" for o in accepted_options(factory))
        rows.append(
            f"| `{name}` | {', '.join(sorted(attack.acts_on)) or '-'} | {attack.knowledge} | "
            f"{attack.goal} | {options or '-'} |"
        )
    return "\n".join(rows)


def rewrite(path: Path, markers: tuple[str, str], block: str) -> None:
    """Replace the text between ``markers`` in ``path`` with ``block``."""
    text = path.read_text()
    start, end = markers
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: markers {start} ... {end} not found")
    path.write_text(pattern.sub(lambda _: f"{start}\n{block}\n{end}", text))


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
        rewrite(args.docs, CATALOGUE, catalogue())
        rewrite(args.docs, EVIDENCE, table)


if __name__ == "__main__":
    main()
