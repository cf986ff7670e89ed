"""Score cells and rank defenses by their worst case over attacks.

Per cell (``METHOD`` states the same in the published output):

- utility retained  U = NDCG@10(cell) / NDCG@10(reference), the reference being
  the same cell with ``attack = none`` and ``defense = fedavg``;
- attack success    S = ER@10 for a targeted attack (share of benign shoppers
  with a target item in their top 10); for an untargeted attack the normalised
  utility drop clip((NDCG@10(clean) - NDCG@10(cell)) / NDCG@10(clean), 0, 1),
  ``clean`` being the same cell with ``attack = none``.

Per defense and seed, within a panel (the cells that share everything but
attack, defense, malicious fraction and seed; one panel per strategy in the
shipped matrices): worst utility = min U over attacks (``none`` included, the
price of the defense without attack) and malicious fractions; worst safety =
min (1 - S) over the attacked cells; robust score = min(worst utility, worst
safety). A failed cell counts as the worst case (U = 0, S = 1); a skipped cell
(cannot run by construction) is left out and counted. Over seeds: the mean and
its 95 % confidence interval, mean +- t(0.975, n - 1) s / sqrt(n).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from fedarena.engine.assumed_f import BOUND_LEVEL
from fedarena.matrix.cell import (
    NEUTRAL_FIELDS,
    REFERENCE_ATTACK,
    REFERENCE_DEFENSE,
    comparable_key,
)
from fedarena.matrix.store import CellRecord

UTILITY = "ndcg@10"
CONFIDENCE = 0.95
AXES = ("attack", "defense", "malicious_fraction", "seed")
REFERENCE = {"attack": REFERENCE_ATTACK, "defense": REFERENCE_DEFENSE}

METHOD = (
    f"Utility is {UTILITY.upper()} of benign shoppers' held-out purchases. Utility retained = "
    f"{UTILITY.upper()} of the cell / {UTILITY.upper()} of the reference cell (attack none, "
    "defense fedavg, same strategy, malicious fraction, seed and everything else). Attack "
    "success = ER@10 (share of benign shoppers with a target item in their top 10) for "
    "targeted attacks; for untargeted attacks the normalised utility drop "
    "(clean - attacked) / clean clipped to [0, 1], where clean is the same cell with attack "
    "none. For each seed, a defense's worst utility is the minimum of utility retained over "
    "attacks (none included) and malicious fractions, its worst safety the minimum of "
    "1 - attack success over the attacked cells, and its robust score the smaller of the two; "
    "defenses are ranked by the mean robust score over seeds, shown with a 95 % confidence "
    "interval mean +- t(0.975, n-1) s/sqrt(n) (Student's t, none for a single seed). A failed "
    "cell counts as the worst case (utility retained 0, attack success 1); a cell skipped "
    "because it cannot run by construction is left out and counted. Threat model "
    "(docs/threat-model.md): each cell's defense is told the f of its assumed_f, by default "
    f"the smallest f with P(more malicious clients in a round than f) <= {float(BOUND_LEVEL):.0%} "
    "under the round's uniform sampling; malicious clients skip client-side defenses (DP-SGD) "
    "and report the sample counts their attack chooses."
)


def panel_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec fields that define a cell's panel (all but the ranked axes)."""
    return {k: v for k, v in spec.items() if k not in (*AXES, *NEUTRAL_FIELDS)}


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
    """A cell with its utility, utility retained and attack success (``None``: undefined)."""

    record: CellRecord
    utility: float | None
    retained: float | None
    success: float | None
    goal: str | None

    @property
    def spec(self) -> dict[str, Any]:
        return self.record.spec

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def attacked(self) -> bool:
        return self.spec["attack"] != "none"


def _utility_of(final: dict[str, Any]) -> float | None:
    value = final.get(UTILITY)
    return value if value is not None and math.isfinite(value) else None


def _utility(record: CellRecord | None) -> float | None:
    return None if record is None or record.result is None else _utility_of(record.result["final"])


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def attack_success(goal: str, final: dict[str, Any], clean: float | None) -> float | None:
    """ER@10 for targeted attacks, the normalised utility drop for untargeted ones."""
    if goal == "targeted":
        return final.get("er@10")
    if goal == "untargeted":
        kept = _ratio(_utility_of(final), clean)
        return None if kept is None else min(max(1.0 - kept, 0.0), 1.0)
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
        goal = record.result["attack"]["goal"]
        final = record.result["final"]
        utility = _utility(record)
        scores.append(
            CellScore(
                record=record,
                utility=utility,
                retained=_ratio(utility, _utility(reference)),
                success=attack_success(goal, final, _utility(clean)),
                goal=goal,
            )
        )
    return scores


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95 % confidence interval (``None`` bounds for one seed)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int
    per_seed: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, per_seed: dict[int, float]) -> Estimate:
        values = np.array(list(per_seed.values()), dtype=float)
        if len(values) == 0:
            return cls(None, None, None, 0)
        mean = float(values.mean())
        if len(values) < 2:
            return cls(mean, None, None, 1, per_seed)
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * values.std(ddof=1)
        half /= math.sqrt(len(values))
        return cls(mean, mean - half, mean + half, len(values), per_seed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "ci95": None if self.low is None else [self.low, self.high],
            "n_seeds": self.n,
            "per_seed": {str(k): v for k, v in sorted(self.per_seed.items())},
        }


@dataclass(frozen=True)
class DefenseRank:
    """One defense's scores in a panel."""

    defense: str
    robust: Estimate
    worst_utility: Estimate
    worst_safety: Estimate
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "defense": self.defense,
            "robust": self.robust.as_dict(),
            "worst_utility_retained": self.worst_utility.as_dict(),
            "worst_safety": self.worst_safety.as_dict(),
            "cells": self.counts,
        }


def _worst(scores: list[CellScore]) -> tuple[float | None, float | None]:
    """(worst utility retained, worst 1 - success) over one defense's cells of one seed."""
    utility, safety = [], []
    for s in scores:
        if s.status == "failed":
            utility.append(0.0)
            safety.extend([0.0] if s.attacked else [])
        elif s.status == "done":
            if s.retained is not None:
                utility.append(s.retained)
            if s.attacked and s.success is not None:
                safety.append(1.0 - s.success)
    return (min(utility) if utility else None, min(safety) if safety else None)


def rank_defense(defense: str, scores: list[CellScore], expected: int) -> DefenseRank:
    """Worst cases per seed, then mean and confidence interval over seeds."""
    by_seed: dict[int, list[CellScore]] = {}
    for s in scores:
        by_seed.setdefault(s.spec["seed"], []).append(s)
    utility, safety, robust = {}, {}, {}
    for seed, cells in sorted(by_seed.items()):
        u, v = _worst(cells)
        if u is not None:
            utility[seed] = u
        if v is not None:
            safety[seed] = v
        present = [x for x in (u, v) if x is not None]
        if present:
            robust[seed] = min(present)
    counts = {status: sum(s.status == status for s in scores) for status in ("done", "failed")}
    counts["skipped"] = sum(s.status == "skipped" for s in scores)
    counts["expected"] = expected
    return DefenseRank(
        defense, Estimate.of(robust), Estimate.of(utility), Estimate.of(safety), counts
    )


def rank(ranks: list[DefenseRank]) -> list[DefenseRank]:
    """Best robust score first; defenses without one last, by name."""
    return sorted(
        ranks,
        key=lambda r: (r.robust.mean is None, -(r.robust.mean or 0.0), r.defense),
    )
