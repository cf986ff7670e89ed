"""Score cells and rank defenses by their worst case over attacks (``METHOD`` says the same in
every published output).

Per cell, each metric is the mean over the last ``LAST_K`` evaluated rounds (one round's
ER@10 swings with the attackers sampled in it); the final round is kept beside it. With
``P`` the popularity baseline's NDCG@10 and ``ref`` the reference cell (attack none,
defense fedavg, everything else the same):

- utility retained  U = clip((NDCG(cell) - P) / (NDCG(ref) - P), 0, 1): a defense no better
  than recommending best-sellers retains 0;
- attack success    S in [0, 1]: ER@10 for a targeted attack; for an untargeted one the
  share of the defense's own utility above popularity that the attack destroys,
  clip((NDCG(clean) - NDCG(cell)) / (NDCG(clean) - P), 0, 1), ``clean`` being the same
  cell with attack none;
- cell score        c = min(U, 1 - S) (U alone without attack): high only if the defense
  keeps utility and stops the attack.

Per defense and seed, within a panel (the cells that share everything but attack,
defense, malicious fraction and seed; one panel per strategy in the shipped matrices):
the robust score is the minimum cell score over attacks (none included, the price of the
defense without attack) and malicious fractions, i.e. min(worst U, worst 1 - S). A failed
cell counts as the worst case (c = 0); a skipped cell (cannot run by construction) is
left out and counted. Over seeds: the mean and its bootstrap interval, and rank groups
from paired tests (``fedarena.leaderboard.statistics``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np

from fedarena.engine.assumed_f import BOUND_LEVEL
from fedarena.leaderboard import statistics
from fedarena.leaderboard.statistics import Comparison, bootstrap_interval
from fedarena.matrix.cell import (
    NEUTRAL_FIELDS,
    REFERENCE_ATTACK,
    REFERENCE_DEFENSE,
    comparable_key,
)
from fedarena.matrix.store import CellRecord
from fedarena.scenario.spec import SHOP_FIELDS

UTILITY = "ndcg@10"
TARGETED = "er@10"
LAST_K = 5
POPULARITY = "popularity"
AXES = ("attack", "defense", "malicious_fraction", "seed")
REFERENCE = {"attack": REFERENCE_ATTACK, "defense": REFERENCE_DEFENSE}

METHOD = (
    f"Every cell metric is the mean over the last {LAST_K} evaluated rounds (the final round "
    f"is kept beside it). Utility is {UTILITY.upper()} of benign shoppers' held-out purchases; "
    "utility retained U = (NDCG - P) / (NDCG of the reference - P), clipped to [0, 1], with P "
    "the popularity baseline's NDCG and the reference the cell with attack none and defense "
    "fedavg (same strategy, malicious fraction, seed and everything else), so a defense no "
    "better than recommending best-sellers retains 0. Attack success S, in [0, 1]: ER@10 "
    "(share of benign shoppers with a target item in their top 10) for targeted attacks; for "
    "untargeted attacks the share of the defense's own utility above popularity that the "
    "attack destroys, (NDCG of the clean cell - NDCG) / (NDCG of the clean cell - P) clipped to "
    "[0, 1], the clean cell being the same cell with attack none. A cell's score is "
    "min(U, 1 - S) (U without attack); a defense's robust score for a seed is its lowest cell "
    "score over attacks (none included) and malicious fractions, and defenses are ranked by "
    "its mean over seeds. A failed cell scores 0; a cell skipped because it cannot run by "
    f"construction is left out and counted. {statistics.METHOD} Threat model "
    "(docs/threat-model.md): each cell's defense is told the f of its assumed_f, by default "
    f"the smallest f with P(more malicious clients in a round than f) <= {float(BOUND_LEVEL):.0%} "
    "under the round's uniform sampling; malicious clients skip client-side defenses (DP-SGD) "
    "and report the sample counts their attack chooses."
)


def panel_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec fields that define a cell's panel: all but the ranked axes, and on a logged
    population (MovieLens, a user's log) the shop's simulation options, which it holds at
    their defaults and does not use (a settings line saying items=2000 would mislead)."""
    unused = SHOP_FIELDS if spec.get("population", "shop") != "shop" else ()
    return {k: v for k, v in spec.items() if k not in (*AXES, *NEUTRAL_FIELDS, *unused)}


def latest(records: Iterable[CellRecord]) -> list[CellRecord]:
    """One record per cell (spec and seed), the most recently finished across versions."""
    chosen: dict[str, CellRecord] = {}
    for record in records:
        key = comparable_key(record.spec)
        if key not in chosen or record.finished_at >= chosen[key].finished_at:
            chosen[key] = record
    return list(chosen.values())


@dataclass(frozen=True)
class CellScore:
    """A cell with its metrics (last-``LAST_K`` means), utility retained, attack success and
    score (``None``: undefined), see the module docstring."""

    record: CellRecord
    utility: float | None
    retained: float | None
    success: float | None
    goal: str | None
    utility_final: float | None = None
    success_final: float | None = None

    @property
    def spec(self) -> dict[str, Any]:
        return self.record.spec

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def attacked(self) -> bool:
        return self.spec["attack"] != "none"

    @property
    def score(self) -> float | None:
        """min(U, 1 - S), U alone without attack; 0 for a failed cell; None if undefined."""
        if self.status == "failed":
            return 0.0
        if self.status != "done" or self.retained is None:
            return None
        if not self.attacked:
            return self.retained
        return None if self.success is None else min(self.retained, 1.0 - self.success)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def last_k_mean(result: dict[str, Any], metric: str) -> float | None:
    """The mean of ``metric`` over the last ``LAST_K`` rounds that evaluated it, else its
    final value (a result without per-round values)."""
    values = [v for r in result["rounds"] if (v := _finite(r.get(metric))) is not None]
    if values:
        return float(np.mean(values[-LAST_K:]))
    return _finite(result["final"].get(metric))


def _utility(record: CellRecord | None) -> float | None:
    return None if record is None or record.result is None else last_k_mean(record.result, UTILITY)


def popularity_of(record: CellRecord | None) -> float | None:
    """The popularity baseline's NDCG@10 of a cell (``None`` if it has none)."""
    if record is None or record.result is None:
        return None
    return _finite(record.result.get("baselines", {}).get(POPULARITY, {}).get(UTILITY))


def _above_floor(value: float | None, top: float | None, floor: float | None) -> float | None:
    """clip((value - floor) / (top - floor), 0, 1); None when undefined or top <= floor."""
    if value is None or top is None or floor is None or top <= floor:
        return None
    return min(max((value - floor) / (top - floor), 0.0), 1.0)


def attack_success(
    goal: str, result: dict[str, Any], clean: float | None, floor: float | None
) -> float | None:
    """ER@10 for targeted attacks, the share of utility above popularity destroyed for
    untargeted ones (last-``LAST_K`` means)."""
    if goal == "targeted":
        return last_k_mean(result, TARGETED)
    if goal == "untargeted":
        kept = _above_floor(last_k_mean(result, UTILITY), clean, floor)
        return None if kept is None else 1.0 - kept
    return None


def score_cells(records: Sequence[CellRecord]) -> list[CellScore]:
    """Every cell scored against its reference and clean twin found among ``records``."""
    by_key = {comparable_key(r.spec): r for r in records}
    scores = []
    for record in records:
        spec = record.spec
        reference = by_key.get(comparable_key(spec, **REFERENCE))
        clean = by_key.get(comparable_key(spec, attack="none"))
        if record.result is None:
            scores.append(CellScore(record, None, None, None, None))
            continue
        result = record.result
        goal = result["attack"]["goal"]
        floor = popularity_of(reference)
        utility = _utility(record)
        success = attack_success(goal, result, _utility(clean), floor)
        scores.append(
            CellScore(
                record=record,
                utility=utility,
                retained=_above_floor(utility, _utility(reference), floor),
                success=success,
                goal=goal,
                utility_final=_finite(result["final"].get(UTILITY)),
                success_final=(
                    _finite(result["final"].get(TARGETED)) if goal == "targeted" else None
                ),
            )
        )
    return scores


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its bootstrap interval (``None`` bounds for one seed)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int
    per_seed: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, per_seed: dict[int, float]) -> Estimate:
        values = list(per_seed.values())
        if not values:
            return cls(None, None, None, 0)
        interval = bootstrap_interval(values)
        return cls(float(np.mean(values)), interval.low, interval.high, len(values), per_seed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "ci95": None if self.low is None else [self.low, self.high],
            "n_seeds": self.n,
            "per_seed": {str(k): v for k, v in sorted(self.per_seed.items())},
        }


Unit = tuple[int, str, float]  # (seed, attack, malicious fraction): one cell of a defense


@dataclass(frozen=True)
class DefenseRank:
    """One defense's scores in a panel: its estimates, each cell's score by (seed, attack,
    fraction) for the paired tests, its cells' keys, and once ranked its rank label and
    its comparison with the defense above."""

    defense: str
    robust: Estimate
    worst_utility: Estimate
    worst_safety: Estimate
    counts: dict[str, int]
    cells: dict[Unit, float] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    label: str = "-"
    above: Comparison | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "defense": self.defense,
            "rank": self.label,
            "robust": self.robust.as_dict(),
            "worst_utility_retained": self.worst_utility.as_dict(),
            "worst_safety": self.worst_safety.as_dict(),
            "cells": self.counts,
            "cell_keys": list(self.keys),
            "compared_with_above": None if self.above is None else self.above.as_dict(),
        }


def rank_defense(defense: str, scores: list[CellScore], expected: int) -> DefenseRank:
    """Worst cases per seed, then mean and bootstrap interval over seeds."""
    by_seed: dict[int, list[CellScore]] = {}
    for s in scores:
        by_seed.setdefault(s.spec["seed"], []).append(s)
    utility, safety, robust = {}, {}, {}
    for seed, cells in sorted(by_seed.items()):
        ran = [s for s in cells if s.status != "skipped"]
        retained = [0.0 if s.status == "failed" else s.retained for s in ran]
        kept = [
            0.0 if s.status == "failed" else None if s.success is None else 1.0 - s.success
            for s in ran
            if s.attacked
        ]
        retained = [u for u in retained if u is not None]
        kept = [v for v in kept if v is not None]
        if retained:
            utility[seed] = min(retained)
        if kept:
            safety[seed] = min(kept)
        present = [s.score for s in cells if s.score is not None]
        if present:
            robust[seed] = min(present)
    counts = {status: sum(s.status == status for s in scores) for status in ("done", "failed")}
    counts["skipped"] = sum(s.status == "skipped" for s in scores)
    counts["expected"] = expected
    cells = {
        (s.spec["seed"], s.spec["attack"], s.spec["malicious_fraction"]): s.score
        for s in scores
        if s.score is not None
    }
    return DefenseRank(
        defense,
        Estimate.of(robust),
        Estimate.of(utility),
        Estimate.of(safety),
        counts,
        cells,
        tuple(sorted(s.record.key for s in scores)),
    )


def rank(ranks: list[DefenseRank]) -> list[DefenseRank]:
    """Best robust score first (defenses without one last, by name), each with its rank label
    from the Holm-adjusted paired tests against the defense above
    (``fedarena.leaderboard.statistics``)."""
    ordered = sorted(
        ranks,
        key=lambda r: (r.robust.mean is None, -(r.robust.mean or 0.0), r.defense),
    )
    scored = [r for r in ordered if r.robust.mean is not None]
    comparisons = []
    for upper, lower in pairwise(scored):
        shared = sorted(set(upper.cells) & set(lower.cells))
        comparisons.append(
            statistics.paired_test(
                upper.defense,
                lower.defense,
                [upper.cells[u] for u in shared],
                [lower.cells[u] for u in shared],
            )
        )
    adjusted = statistics.holm([c.p_value for c in comparisons])
    comparisons = [replace(c, p_holm=p) for c, p in zip(comparisons, adjusted, strict=True)]
    labels = statistics.rank_labels(comparisons, len(scored))
    ranked = [
        replace(r, label=label, above=comparisons[i - 1] if i else None)
        for i, (r, label) in enumerate(zip(scored, labels, strict=True))
    ]
    return ranked + ordered[len(scored) :]
