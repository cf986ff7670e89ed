"""What the defenses do against three attacks on the default shop (issue 4's evidence).

    .venv/bin/python scripts/defense_evidence.py [--rounds 30] [--doc docs/defenses.md]

Default shop (2,000 items, 500 shoppers, 50 per round), FedAvg strategy,
10 % malicious shoppers, seed 0, every cell also run without attack:

1. Model replacement (Bagdasaryan et al., AISTATS 2020), plain and
   constrain-and-scale (boosted only up to the clipping bound): ER@10 and
   NDCG@10 without defense, with norm clipping, and with norm clipping plus
   Gaussian noise (central DP): Sun et al.'s (2019) norm bounding and weak DP.
2. Identical Sybils (``sybil``, coordination 1): FoolsGold's detection recall
   (the share of Sybil participations it flags) and precision.
3. ALIE (Baruch et al., NeurIPS 2019): Krum's NDCG@10, beside FedAvg.

It prints a Markdown table; ``--doc`` also writes it between the evidence
markers of that file. The numbers are what this run measured, whichever way
they go.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

START, END = "<!-- evidence:start -->", "<!-- evidence:end -->"
CLIP = "norm_clip(max_norm=5.0)"
CLIP_AND_NOISE = "central_dp(max_norm=5.0, noise_multiplier=0.1)"
REPLACEMENT = ("model_replacement", "model_replacement(constrain_and_scale=5.0)", "none")


@dataclass(frozen=True)
class Cell:
    experiment: str
    attack: str
    defense: str


CELLS = [
    *(
        Cell("model replacement", attack, defense)
        for defense in ("fedavg", CLIP, CLIP_AND_NOISE)
        for attack in REPLACEMENT
    ),
    *(
        Cell("identical Sybils", attack, defense)
        for defense in ("fedavg", "foolsgold")
        for attack in ("sybil(coordination=1.0)", "none")
    ),
    *(
        Cell("ALIE", attack, defense)
        for defense in ("fedavg", "krum")
        for attack in ("alie", "none")
    ),
]
COLUMNS = ("ndcg@10", "er@10", "detection_precision", "detection_recall", "epsilon")


def run_cell(cell: Cell, rounds: int) -> dict[str, float | None]:
    """The cell's final metrics (one process per cell, one torch thread each)."""
    torch.set_num_threads(1)
    scenario = Scenario(
        rounds=rounds,
        attack=cell.attack,
        defense=cell.defense,
        malicious_fraction=0.1,
        baselines=False,
    )
    return run_scenario(scenario, compare_clean=False)["final"]


def _format(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3g}" if value >= 1000 else f"{value:.4f}"


def table(results: list[tuple[Cell, dict]]) -> list[str]:
    header = "experiment | attack | defense | NDCG@10 | ER@10 | flag precision | flag recall"
    lines = [f"| {header} | epsilon |", "|---|---|---|---|---|---|---|---|"]
    for cell, final in results:
        values = " | ".join(_format(final.get(key)) for key in COLUMNS)
        lines.append(f"| {cell.experiment} | `{cell.attack}` | `{cell.defense}` | {values} |")
    return lines


def write_doc(path: Path, lines: list[str], rounds: int) -> None:
    text = path.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{path}: no {START} ... {END} markers to write the table between")
    note = (
        f"{rounds} rounds. ER@10 is measured for targeted attacks only; flag precision and "
        "recall are over all rounds' sampled clients; epsilon at delta = 1e-5."
    )
    body = "\n".join([*lines, "", note])
    head, rest = text.split(START, 1)
    path.write_text(f"{head}{START}\n{body}\n{END}{rest.split(END, 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--doc", type=Path, help="Markdown file with evidence markers")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.workers) as pool:
        finals = list(pool.map(run_cell, CELLS, [args.rounds] * len(CELLS)))
    lines = table(list(zip(CELLS, finals, strict=True)))
    print("\n".join(lines))
    if args.doc:
        write_doc(args.doc, lines, args.rounds)


if __name__ == "__main__":
    main()
