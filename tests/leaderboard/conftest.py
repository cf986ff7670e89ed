"""Synthetic cell records with chosen metrics, for scoring and rendering tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fedarena.matrix.cell import Cell
from fedarena.matrix.store import CellRecord, ResultStore
from fedarena.scenario.spec import Scenario

GOALS = {"none": "none", "promote": "targeted", "scramble": "untargeted"}


def make_record(
    attack: str = "none",
    defense: str = "fedavg",
    seed: int = 0,
    ndcg: float = 0.2,
    er: float | None = None,
    status: str = "done",
    strategy: str = "fedavg",
    fraction: float = 0.2,
    finished_at: str = "2026-01-01T00:00:00+00:00",
    version: str = "0.1.0",
) -> CellRecord:
    """A cell of the tiny shop; ``promote`` is a targeted attack, ``scramble`` an untargeted one."""
    scenario = Scenario(
        attack=attack,
        defense=defense,
        strategy=strategy,
        seed=seed,
        malicious_fraction=fraction,
        baselines=attack == "none" and defense == "fedavg",
        rounds=4,
        eval_every=2,
    )
    cell = Cell.of(scenario, version=version)
    result = None
    if status == "done":
        final = {"ndcg@10": ndcg, "hr@10": 2 * ndcg, "auc": 0.8}
        if er is not None:
            final["er@10"] = er
        result = {
            "schema": "fedarena.run/1",
            "spec": cell.scenario.to_dict(),
            "attack": {"goal": GOALS[attack]},
            "final": final,
            "rounds": [
                {
                    "round": t,
                    "train_loss": 0.5,
                    **({"ndcg@10": ndcg * (t + 1) / 4} if t % 2 else {}),
                }
                for t in range(4)
            ],
            "baselines": (
                {"popularity": {"ndcg@10": 0.15}, "local": {"ndcg@10": 0.1}}
                if cell.scenario.baselines
                else {}
            ),
            "timings": {"wall_s": 1.0},
        }
    return CellRecord(
        key=cell.key,
        family=cell.family,
        version=version,
        seed=seed,
        spec=cell.scenario.to_dict(),
        status=status,
        wall_s=1.0,
        finished_at=finished_at,
        reason=None if status == "done" else f"{status} on purpose",
        result=result,
    )


@pytest.fixture()
def record():
    return make_record


DEFENSES = ("fedavg", "trimmed_mean(beta=0.1)", "norm_clip(max_norm=1.0) > krum")
ATTACKS = ("none", "promote", "scramble")


@pytest.fixture()
def store_folder(tmp_path):
    """A results store holding two strategies' attack x defense x fraction x seed grid,
    one failed and one skipped cell among them, and one finished session."""

    folder = tmp_path / "results"
    folder.mkdir()
    with ResultStore.in_folder(folder) as store:
        session = store.start_session(
            matrix="scenarios/x.toml",
            matrix_sha256="0",
            grids=["x"],
            version="0.1.0",
            workers=2,
            cores=2,
            machine="x86_64",
            time_limit_s=60.0,
            memory_limit_mb=2048,
            cells=108,
            resumed=0,
        )
        for strategy in ("fedavg", "fedprox"):
            for fraction in (0.1, 0.2):
                for seed in (0, 1, 2):
                    for i, defense in enumerate(DEFENSES):
                        for j, attack in enumerate(ATTACKS):
                            status = "done"
                            if (defense, attack, seed) == (DEFENSES[2], "scramble", 1):
                                status = "failed"
                            if (defense, attack, fraction) == (DEFENSES[1], "promote", 0.2):
                                status = "skipped"
                            ndcg = 0.2 - 0.01 * i - 0.03 * j * (1 - 0.3 * i) + 0.002 * seed
                            er = 0.5 - 0.1 * i if attack == "promote" else None
                            store.put(
                                make_record(
                                    attack, defense, seed, ndcg, er, status, strategy, fraction
                                )
                            )
        store.finish_session(session, 754.0, {"done": 98, "failed": 4, "skipped": 6})
    return SimpleNamespace(folder=folder, attacks=ATTACKS, defenses=DEFENSES)
