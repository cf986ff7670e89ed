"""What a matrix cell costs, part by part, and how many cells a minute the grids run.

    .venv/bin/python benchmarks/cell_cost.py                        # this checkout
    .venv/bin/python benchmarks/cell_cost.py --reference 4fad913    # and ratios against it
    .venv/bin/python benchmarks/cell_cost.py --skip-matrices        # part 1 only (~1 min)

Part 1, in this process with one torch thread: each card defense under each card
attack (strategy fedavg, malicious fraction 0.2, seed 0, the standard shop of
``scenarios/standard.toml``), cut into the parts of a cell: world (catalog,
shoppers, components), rounds (local training and the server; evaluation not
included), evaluation, the round reports a matrix worker sends (DP: the
privacy spent so far), the final document with its baselines and accounting,
and the store (one SQLite transaction). Beside local training, its
memory-traffic bound: the bytes an ideal implementation moves in the round's
optimiser steps and gathers (each touched parameter read and written once per
step, Adam's two moments with it), at this machine's copy bandwidth measured
in the same run.

Part 2, ``fedarena matrix --workers 2`` end to end on ``scenarios/smoke.toml``
and on a sample of the card grid (seed 0, malicious fraction 0.2: 60 cells):
cells per minute, and the time per cell outside the worker (fork, messages,
store). With ``--reference REV`` every cell of part 1 and both matrices also
run with that revision's code (a git worktree, this virtual environment), and
the ratios are printed: the same machine, the same minute.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ATTACKS = ("none", "label_flip", "model_replacement", "sybil")
DEFENSES = ("fedavg", "krum", "trimmed_mean", "norm_clip", "dp_sgd")
STANDARD = {"rounds": 30, "clients_per_round": 50, "shoppers": 500, "items": 2000}
CELL = {**STANDARD, "eval_every": 5, "malicious_fraction": 0.2, "strategy": "fedavg"}
CARD_SAMPLE = """
description = "card grid sample: seed 0, malicious fraction 0.2"
rounds = 30
clients_per_round = 50
shoppers = 500
items = 2000
eval_every = 5
strategy = ["fedavg", "fedprox", "fedavg_plus"]
malicious_fraction = 0.2
seed = 0
attack = {attacks}
defense = {defenses}
"""

# Run by the reference revision's interpreter: the whole of each cell, through the API that
# every revision has (Scenario.from_dict, run_scenario).
REFERENCE_CELLS = """
import json, sys, time
import torch
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario
torch.set_num_threads(1)
out = {}
for attack, defense, spec in json.loads(sys.argv[1]):
    run_scenario(Scenario.from_dict({**spec, "rounds": 1, "eval_every": 1}), compare_clean=False)
    start = time.perf_counter()
    run_scenario(Scenario.from_dict(spec), compare_clean=False)
    out[attack + " x " + defense] = time.perf_counter() - start
print(json.dumps(out))
"""


def spec(attack: str, defense: str) -> dict[str, Any]:
    return {**CELL, "attack": attack, "defense": defense, "baselines": False}


def copy_bandwidth() -> float:
    """Bytes per second of a large tensor copy (one read and one write per element)."""
    import torch

    source = torch.ones(32 * 2**20)  # 128 MiB, well beyond the caches
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.numel() * source.element_size() / best


class TimedTrainer:
    """A trainer that times each call and keeps, per call, what an ideal implementation
    would move: each client's steps and the parameter rows it trains."""

    def __init__(self, trainer: Any, world: Any) -> None:
        self.trainer, self.world = trainer, world
        self.seconds, self.bytes = 0.0, 0.0

    def train(self, global_params: Any, users: Any, batches: Any, config: Any) -> Any:
        return self._timed(self.trainer.train, global_params, users, batches, config)

    def _timed(self, method: Any, global_params: Any, users: Any, batches: Any, config: Any):
        start = time.perf_counter()
        result = method(global_params, users, batches, config)
        self.seconds += time.perf_counter() - start
        self.bytes += self.ideal_bytes(batches)
        return result

    def ideal_bytes(self, batches: Any) -> float:
        """Per client and step, every parameter it trains read and written with its gradient
        and Adam's two moments (7 float32 accesses), plus one read of each example's rows
        and features. DP-SGD trains every item row (its noise covers them all)."""
        from fedarena.training.dp_sgd import DpSgdTrainer

        tower, dim = self.world.tower, self.world.scenario.dim
        dense = sum(
            p.numel() for n, p in tower.named_parameters() if n not in tower.PER_ITEM_PARAMETERS
        )
        features = tower.features.shape[1]
        total = 0.0
        for client in range(batches.n_clients):
            own = batches.rows(client)
            steps = len(own)
            real = batches.weight[own.start : own.stop] > 0
            if isinstance(self.trainer, DpSgdTrainer):
                rows = len(tower.item_bias)
            else:
                rows = len(batches.items[own.start : own.stop][real].unique())
            examples = int(real.sum())
            total += steps * 7 * 4 * (dense + dim + rows * (dim + 1))
            total += examples * 4 * (3 * dim + 1 + features)
        return total


class TimedSparseTrainer(TimedTrainer):
    """A ``TimedTrainer`` of a trainer that returns its updates on the columns it changed,
    timed on that path: the one the engine takes with it."""

    def train_updates(self, global_params: Any, users: Any, batches: Any, config: Any) -> Any:
        return self._timed(self.trainer.train_updates, global_params, users, batches, config)


def timed(trainer: Any, world: Any) -> TimedTrainer:
    """``trainer`` timed, on the engine's path for it (sparse where it has one)."""
    if hasattr(trainer, "train_updates"):
        return TimedSparseTrainer(trainer, world)
    return TimedTrainer(trainer, world)


def part_one(bandwidth: float) -> dict[str, dict[str, float]]:
    """The parts of every sampled cell, timed in this process."""
    import torch

    from fedarena.matrix.store import CellRecord, ResultStore, now
    from fedarena.scenario.result import Clock, run_document
    from fedarena.scenario.spec import Scenario
    from fedarena.scenario.world import build_world

    torch.set_num_threads(1)
    parts: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore.in_folder(Path(folder))
        for attack in ATTACKS:
            for defense in DEFENSES:
                scenario = Scenario.from_dict(spec(attack, defense))
                _warm(scenario)
                times = dict.fromkeys(("world", "rounds", "evaluation", "reports"), 0.0)
                start = time.perf_counter()
                world = build_world(scenario)
                federation = world.federation(users=world.init_users.clone())
                federation.observer = _Discard()
                benign = timed(federation.trainer, world)
                trainers = [benign]  # one wrapper where both groups share the trainer
                if federation.attacker_trainer is not federation.trainer:
                    trainers.append(timed(federation.attacker_trainer, world))
                federation.trainer, federation.attacker_trainer = benign, trainers[-1]
                setup_end = time.perf_counter()
                times["world"] = setup_end - start
                for t in range(scenario.rounds):
                    with _timed(times, "rounds"):
                        record = federation.step(t)
                    with _timed(times, "evaluation"):
                        federation.evaluate_if_due(record, scenario.rounds, scenario.eval_every)
                    with _timed(times, "reports"):
                        federation.report(record)
                federated_end = time.perf_counter()
                with _timed(times, "document"):
                    result = run_document(world, federation, Clock(start, setup_end, federated_end))
                with _timed(times, "store"):
                    store.put(
                        CellRecord(
                            key=f"{attack}-{defense}",
                            family=f"{attack}-{defense}",
                            version="benchmark",
                            seed=0,
                            spec=scenario.to_dict(),
                            status="done",
                            wall_s=0.0,
                            finished_at=now(),
                            result=json.loads(json.dumps(result)),
                        )
                    )
                times["cell"] = sum(times.values())
                times["training"] = sum(t.seconds for t in trainers)
                times["bound"] = sum(t.bytes for t in trainers) / bandwidth
                parts[f"{attack} x {defense}"] = times
        store.close()
    return parts


class _Discard:
    """A round observer that keeps nothing (the matrix worker's sends the same values)."""

    def on_round(self, **values: Any) -> None:
        pass


@contextmanager
def _timed(times: dict[str, float], part: str):
    start = time.perf_counter()
    yield
    times[part] = times.get(part, 0.0) + time.perf_counter() - start


def _warm(scenario: Any) -> None:
    """One round first, so that first-call costs (lazy imports) are not a cell's."""
    from dataclasses import replace

    from fedarena.scenario.run import run_scenario

    run_scenario(replace(scenario, rounds=1, eval_every=1), compare_clean=False)


@contextmanager
def reference_checkout(revision: str):
    """A worktree of ``revision``, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="fedarena-reference-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False
        )


def reference_cells(checkout: Path) -> dict[str, float]:
    cells = [[a, d, spec(a, d)] for a in ATTACKS for d in DEFENSES]
    done = subprocess.run(
        [sys.executable, "-c", REFERENCE_CELLS, json.dumps(cells)],
        env=_env(checkout),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _env(checkout: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout / "src"), "PYTHONWARNINGS": "ignore"}


def run_matrix(checkout: Path, scenario: Path, workers: int = 2) -> dict[str, float]:
    """``fedarena matrix`` in a fresh folder: wall time, cells, and the in-worker seconds."""
    import sqlite3

    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "fedarena.cli", "matrix", "--scenario", str(scenario)]
        command += ["--workers", str(workers), "--out", out, "--quiet"]
        start = time.perf_counter()
        subprocess.run(
            command,
            env=_env(checkout),
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - start
        with sqlite3.connect(Path(out) / "results.sqlite") as db:
            cells, in_worker = db.execute("SELECT COUNT(*), SUM(wall_s) FROM cells").fetchone()
    return {"wall": wall, "cells": cells, "in_worker": in_worker, "workers": workers}


def print_parts(parts: dict[str, dict[str, float]], reference: dict[str, float] | None) -> None:
    columns = ("world", "rounds", "training", "bound", "evaluation", "reports", "document")
    header = ["cell (fedavg strategy)", *columns, "store", "cell"]
    if reference:
        header += ["reference", "speed-up"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, t in parts.items():
        row = [name, *(f"{t[c]:.2f}" for c in columns), f"{t['store'] * 1000:.0f} ms"]
        row.append(f"{t['cell']:.2f}")
        if reference:
            row += [f"{reference[name]:.2f}", f"{reference[name] / t['cell']:.1f}x"]
        print("| " + " | ".join(row) + " |")
    total = sum(t["cell"] for t in parts.values())
    training = sum(t["training"] for t in parts.values())
    bound = sum(t["bound"] for t in parts.values())
    rounds = sum(t["rounds"] for t in parts.values())
    print(
        f"\nall {len(parts)} cells: {total:.1f} s; local training {training:.1f} s of the"
        f" rounds' {rounds:.1f} s (engine overhead {1 - training / rounds:.0%}),"
        f" {training / bound:.1f}x its memory-traffic bound of {bound:.2f} s"
    )
    if reference:
        ref = sum(reference.values())
        print(f"reference revision: {ref:.1f} s, {ref / total:.2f}x this checkout's time")


def print_matrices(ours: dict[str, dict[str, float]], theirs: dict[str, dict[str, float]]):
    print(
        "\n| matrix | cells | wall | cells per minute | outside the worker per cell |"
        + (" reference wall | speed-up |" if theirs else "")
    )
    print("|---|---|---|---|---|" + ("---|---|" if theirs else ""))
    for name, m in ours.items():
        outside = (m["wall"] * m["workers"] - m["in_worker"]) / m["cells"]
        row = [
            name,
            str(m["cells"]),
            f"{m['wall']:.0f} s",
            f"{60 * m['cells'] / m['wall']:.1f}",
            f"{outside:.2f} s",
        ]
        if theirs:
            row += [f"{theirs[name]['wall']:.0f} s", f"{theirs[name]['wall'] / m['wall']:.2f}x"]
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", metavar="REV", help="also run this git revision's code")
    parser.add_argument("--skip-matrices", action="store_true", help="part 1 only")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from fedarena.allocator import reuse_freed_memory

    reuse_freed_memory()  # part 1's cells run as a matrix cell's worker runs them
    bandwidth = copy_bandwidth()
    print(f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s (read + write, 128 MiB, best of 5)\n")
    parts = part_one(bandwidth)
    with tempfile.TemporaryDirectory() as folder:
        card = Path(folder) / "card_sample.toml"
        card.write_text(
            CARD_SAMPLE.format(attacks=json.dumps(ATTACKS), defenses=json.dumps(DEFENSES))
        )
        matrices = {"scenarios/smoke.toml": ROOT / "scenarios/smoke.toml", "card sample": card}
        if args.reference:
            with reference_checkout(args.reference) as checkout:
                reference = reference_cells(checkout)
                theirs = (
                    {}
                    if args.skip_matrices
                    else {name: run_matrix(checkout, path) for name, path in matrices.items()}
                )
        else:
            reference, theirs = None, {}
        print_parts(parts, reference)
        if not args.skip_matrices:
            ours = {name: run_matrix(ROOT, path) for name, path in matrices.items()}
            print_matrices(ours, theirs)


if __name__ == "__main__":
    main()
