"""Non-IID evidence: FedAvg, FedProx and FedAvg+ at alpha = 0.1 and alpha = 10.

Runs the default scenario (built-in shop, 500 shoppers, 50 per round) at two
Dirichlet concentrations of the shoppers' category tastes (0.1: each shopper
buys in a few categories; 10: everyone has much the same mix), with clients
training by Adam (the default) and by plain SGD (the setting of Reddi et al.),
under three strategies, over several seeds. Writes NDCG@10 per round to
``docs/figures/noniid.png`` and the final numbers to the marked block of
``docs/strategies.md``.

    .venv/bin/python scripts/noniid_evidence.py            # about two minutes on 2 cores
"""

from __future__ import annotations

import argparse
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ALPHAS = (0.1, 10.0)
STRATEGIES = {
    "FedAvg": "fedavg",
    "FedProx (mu = 0.01)": "fedprox(mu=0.01)",
    "FedAvg+ (FedAdam)": "fedavg_plus(server_opt=adam)",
}
CLIENTS = {
    "clients: Adam, lr 0.05": {"local_optimizer": "adam", "local_lr": 0.05},
    "clients: SGD, lr 1.0": {"local_optimizer": "sgd", "local_lr": 1.0},
}
EVAL_EVERY = 2  # evaluation dominates a run's time; every other round keeps the script short
BLOCK = re.compile(r"(<!-- noniid:start -->\n).*?(<!-- noniid:end -->)", re.DOTALL)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _run(job: tuple[float, str, str, int, int, bool]) -> dict[str, Any]:
    from fedarena.scenario.run import run_scenario
    from fedarena.scenario.spec import Scenario

    alpha, clients, strategy, seed, rounds, baselines = job
    scenario = Scenario(
        seed=seed,
        rounds=rounds,
        alpha=alpha,
        strategy=STRATEGIES[strategy],
        baselines=baselines,
        eval_every=EVAL_EVERY,
        **CLIENTS[clients],
    )
    result = run_scenario(scenario, compare_clean=False)
    return {
        "job": job,
        "evaluated": [r["round"] + 1 for r in result["rounds"] if "ndcg@10" in r],
        "ndcg": [r["ndcg@10"] for r in result["rounds"] if "ndcg@10" in r],
        "baselines": {k: v["ndcg@10"] for k, v in result["baselines"].items()},
        "js": result["population"]["js_divergence_mean"],
        "seconds": result["timings"]["wall_s"],
    }


def run_all(rounds: int, seeds: int, jobs: int) -> list[dict[str, Any]]:
    """Every (alpha, clients, strategy, seed) run; baselines once per (alpha, clients, seed)."""
    grid = [
        (alpha, clients, strategy, seed, rounds, strategy == "FedAvg")
        for alpha in ALPHAS
        for clients in CLIENTS
        for strategy in STRATEGIES
        for seed in range(seeds)
    ]
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker) as pool:
        return list(pool.map(_run, grid))


def plot(runs: list[dict[str, Any]], seeds: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(CLIENTS), len(ALPHAS), figsize=(11, 7.5), sharex=True, sharey="row", squeeze=False
    )
    for i, clients in enumerate(CLIENTS):
        for j, alpha in enumerate(ALPHAS):
            ax = axes[i][j]
            cell = [r for r in runs if r["job"][0] == alpha and r["job"][1] == clients]
            x = cell[0]["evaluated"]
            for strategy in STRATEGIES:
                curves = np.array([r["ndcg"] for r in cell if r["job"][2] == strategy])
                line = ax.plot(x, curves.mean(axis=0), label=strategy)[0]
                ax.fill_between(
                    x, curves.min(axis=0), curves.max(axis=0), color=line.get_color(), alpha=0.2
                )
            for name, style in (("popularity", "--"), ("centralised", ":")):
                level = np.mean([r["baselines"][name] for r in cell if r["baselines"]])
                ax.axhline(level, color="grey", linestyle=style, label=f"{name} (baseline)")
            js = np.mean([r["js"] for r in cell])
            ax.set_title(f"alpha = {alpha:g} (mean JS divergence {js:.2f}); {clients}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(CLIENTS) - 1:
                ax.set_xlabel("round")
            if j == 0:
                ax.set_ylabel("NDCG@10 (benign shoppers)")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"Non-IID shoppers: NDCG@10 every {EVAL_EVERY} rounds, mean over {seeds} seeds "
        "(band: min to max)",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(runs: list[dict[str, Any]], rounds: int, seeds: int) -> str:
    """Final and best NDCG@10 per cell, mean +- standard deviation over seeds."""
    lines = [
        f"NDCG@10 after round {rounds} and at its best evaluated round (every {EVAL_EVERY}), "
        f"mean +- sd over {seeds} seeds; default scenario otherwise. "
        "`scripts/noniid_evidence.py` writes this block.",
        "",
        "| alpha | clients | strategy | final NDCG@10 | best NDCG@10 |",
        "|---|---|---|---|---|",
    ]
    for alpha in ALPHAS:
        for clients in CLIENTS:
            cell = [r for r in runs if r["job"][0] == alpha and r["job"][1] == clients]
            for strategy in STRATEGIES:
                curves = np.array([r["ndcg"] for r in cell if r["job"][2] == strategy])
                final, best = curves[:, -1], curves.max(axis=1)
                lines.append(
                    f"| {alpha:g} | {clients.removeprefix('clients: ')} | {strategy} | "
                    f"{final.mean():.4f} +- {final.std():.4f} | "
                    f"{best.mean():.4f} +- {best.std():.4f} |"
                )
        for name in ("popularity", "centralised"):
            level = [r["baselines"][name] for r in runs if r["job"][0] == alpha and r["baselines"]]
            spread = f"{np.mean(level):.4f} +- {np.std(level):.4f}"
            lines.append(f"| {alpha:g} | | {name} (baseline) | {spread} | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/figures/noniid.png")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs/strategies.md")
    args = parser.parse_args()
    start = time.perf_counter()
    runs = run_all(args.rounds, args.seeds, args.jobs)
    plot(runs, args.seeds, args.figure)
    block = table(runs, args.rounds, args.seeds)
    print(block)
    doc = args.doc.read_text()
    if not BLOCK.search(doc):
        raise SystemExit(f"{args.doc} has no <!-- noniid:start --> ... <!-- noniid:end --> block")
    args.doc.write_text(BLOCK.sub(lambda m: m[1] + block + m[2], doc))
    print(
        f"{len(runs)} runs, {sum(r['seconds'] for r in runs):.0f} s of run time, "
        f"{time.perf_counter() - start:.0f} s wall; wrote {args.figure} and {args.doc}"
    )


if __name__ == "__main__":
    main()
