"""Synthetic cell records with chosen metrics, for scoring and rendering tests."""

from __future__ import annotations

from dataclasses import replace
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
    **spec: object,
) -> CellRecord:
    """A cell of the tiny shop (``spec`` changes other fields); ``promote`` is a targeted
    attack, ``scramble`` an untargeted one."""
    scenario = Scenario(
        attack=attack,
        defense=defense,
        strategy=strategy,
        seed=seed,
        malicious_fraction=fraction,
        baselines=attack == "none" and defense == "fedavg",
        rounds=4,
        eval_every=2,
        **spec,
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
            # Rounds 2 and 4 (1-based) are evaluated and hold the final metrics.
            "rounds": [
                {"round": t, "train_loss": 0.5, **(final if t % 2 else {})} for t in range(4)
            ],
            "baselines": {
                "popularity": {"ndcg@10": 0.15},
                **({"local": {"ndcg@10": 0.1}} if cell.scenario.baselines else {}),
            },
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


def with_final(record: CellRecord, **metrics: float | None) -> CellRecord:
    """``record`` with ``metrics`` added to its result's final values (privacy, detection)."""
    if record.result is None:
        return record
    result = {**record.result, "final": {**record.result["final"], **metrics}}
    return replace(record, result=result)


PLUGIN = "plugins/norm_trim.py:NormTrim"
DP = "dp_sgd(noise_multiplier=1.0)"
# NDCG@10 without attack, under promote (with its ER@10) and under scramble, per defense: krum
# and the plugin are tied (differences of both signs), DP-SGD is below them on every cell and
# tied with fedavg (better under attack, worse without).
SMOKE = {
    "fedavg": (0.2, 0.2, 0.6, 0.16),
    "krum": (0.195, 0.19, 0.2, 0.185),
    PLUGIN: (0.196, 0.188, 0.25, 0.186),
    DP: (0.18, 0.175, 0.3, 0.17),
}


@pytest.fixture()
def smoke_folder(tmp_path):
    """A store shaped like the smoke board's: one malicious fraction, three seeds, a plugin
    defense and DP-SGD (under the fedavg strategy only) with the privacy it spent, and
    detection scores on the attacked cells of the robust rules."""
    folder = tmp_path / "smoke"
    folder.mkdir()
    with ResultStore.in_folder(folder) as store:
        for strategy in ("fedavg", "fedprox"):
            for seed in (0, 1, 2):
                for defense, (clean, promoted, er, scrambled) in SMOKE.items():
                    if defense == DP and strategy != "fedavg":
                        continue
                    shift = 0.001 * seed
                    for attack, ndcg, hit in (
                        ("none", clean, None),
                        ("promote", promoted, er),
                        ("scramble", scrambled, None),
                    ):
                        cell = make_record(
                            attack, defense, seed, ndcg + shift, hit, "done", strategy
                        )
                        metrics = {}
                        if defense == DP:
                            metrics |= {
                                "epsilon_shopper": 2.5 + 0.1 * seed,
                                "epsilon_example": 0.8,
                                "delta": 0.01,
                            }
                        if attack != "none":
                            robust = defense in ("krum", PLUGIN)
                            metrics |= {
                                "detection_precision": 0.7 if robust else None,
                                "detection_recall": 0.5 if robust else None,
                                "detection_auc": 0.8 if robust else None,
                            }
                        store.put(with_final(cell, **metrics))
    return SimpleNamespace(folder=folder, plugin=PLUGIN, dp=DP)
