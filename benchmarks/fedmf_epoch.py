"""One FedMF epoch on MovieLens against the FedRec track's targets (issue: <= 0.3 s an epoch,
<= 0.5 s an evaluation, 2 cores).

    .venv/bin/python benchmarks/fedmf_epoch.py [--repeats 3] [--defense fedavg]

An epoch is one round in which every one of the 671 MovieLens users trains once over its
own interactions (FedMF, BPR) and the server aggregates: ``Federation.step`` with
``clients_per_round = 671``, split into local training (``Federation.train``) and the
rest of the round. Two local trainings are measured: the FedRec matrix's
(scenarios/fedrec.toml: one local epoch of SGD, the reference code's optimiser), which
the targets are for, and fedarena's default (three local epochs of Adam: three passes
over each client's data, and Adam steps every row a client has touched at every step).
Evaluation is one ``Evaluator`` call (fitting every user's vector, sampled HR/NDCG@10 and
full-ranking ER@K over a target). One torch thread per process and freed memory reused
(``fedarena.allocator``), as the matrix runs cells; medians of ``--repeats`` after a
warm-up round.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tomllib
from pathlib import Path

import torch

from fedarena.allocator import reuse_freed_memory
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import build_world

FEDREC_MATRIX = Path(__file__).resolve().parents[1] / "scenarios" / "fedrec.toml"
LOCAL_TRAINING = ("local_epochs", "local_optimizer", "local_lr")
TARGETS = {"epoch": 0.3, "evaluation": 0.5}


def settings() -> dict[str, dict[str, object]]:
    """The two local trainings measured, by name: the FedRec matrix's and the default's."""
    matrix = tomllib.loads(FEDREC_MATRIX.read_text())
    default = Scenario()
    return {
        "FedRec matrix": {key: matrix[key] for key in LOCAL_TRAINING},
        "default": {key: getattr(default, key) for key in LOCAL_TRAINING},
    }


def measure(defense: str, repeats: int, local: dict[str, object]) -> dict[str, float]:
    """Median seconds of an epoch, its local training and one evaluation."""
    scenario = Scenario(
        population="movielens",
        model="mf",
        shoppers=671,
        clients_per_round=671,
        defense=defense,
        baselines=False,
        **local,  # type: ignore[arg-type]
    )
    world = build_world(scenario)
    federation = world.federation(world.init_users.clone())
    train = federation.train
    trained: list[float] = []

    def timed_train(*args, **kwargs):
        start = time.perf_counter()
        result = train(*args, **kwargs)
        trained.append(time.perf_counter() - start)
        return result

    federation.train = timed_train  # type: ignore[method-assign]
    federation.step(0)  # warm-up
    trained.clear()
    epochs = []
    for round in range(1, repeats + 1):
        start = time.perf_counter()
        federation.step(round)
        epochs.append(time.perf_counter() - start)
    evaluator, targets = federation.evaluator, world.attack.target_items
    evaluations = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluator(federation.global_params, targets if len(targets) else [0])
        evaluations.append(time.perf_counter() - start)
    return {
        "epoch": statistics.median(epochs),
        "local training": statistics.median(trained),
        "evaluation": statistics.median(evaluations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--defense", default="fedavg")
    args = parser.parse_args()
    torch.set_num_threads(1)
    reuse_freed_memory()  # as a matrix cell's worker does
    print(f"FedMF on MovieLens, 671 users per round, defense {args.defense}, 1 torch thread")
    for name, local in settings().items():
        print(f"\n{name} local training: " + ", ".join(f"{k} {v}" for k, v in local.items()))
        print(f"{'part':<16}{'seconds':>9}{'target':>9}  verdict")
        for part, seconds in measure(args.defense, args.repeats, local).items():
            target = TARGETS.get(part) if name == "FedRec matrix" else None
            verdict = "" if target is None else ("met" if seconds <= target else "missed")
            limit = "" if target is None else f"{target:.2f}"
            print(f"{part:<16}{seconds:>9.3f}{limit:>9}  {verdict}")


if __name__ == "__main__":
    main()
