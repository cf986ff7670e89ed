"""Group scored cells into panels: the attack x defense x fraction x seed grid of one setting.

A panel holds the cells that share every spec field but attack, defense,
malicious fraction and seed (one panel per strategy in the shipped matrices).
It ranks its defenses and gives the heatmaps' values and the convergence
curves, averaged over seeds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedarena.leaderboard.scoring import (
    REFERENCE,
    UTILITY,
    CellScore,
    DefenseRank,
    panel_fields,
    rank,
    rank_defense,
)


def _reference_first(values: set[str], reference: str) -> list[str]:
    return sorted(values, key=lambda v: (v != reference, v))


@dataclass(frozen=True)
class Panel:
    """One setting's cells, with its name for people (``label``) and for files (``slug``)."""

    slug: str
    label: str
    fixed: dict[str, Any]
    scores: tuple[CellScore, ...]

    @property
    def attacks(self) -> list[str]:
        return _reference_first({s.spec["attack"] for s in self.scores}, REFERENCE["attack"])

    @property
    def defenses(self) -> list[str]:
        return _reference_first({s.spec["defense"] for s in self.scores}, REFERENCE["defense"])

    @property
    def fractions(self) -> list[float]:
        return sorted({s.spec["malicious_fraction"] for s in self.scores})

    @property
    def seeds(self) -> list[int]:
        return sorted({s.spec["seed"] for s in self.scores})

    def ranking(self) -> list[DefenseRank]:
        expected = len(self.attacks) * len(self.fractions) * len(self.seeds)
        return rank(
            [
                rank_defense(d, [s for s in self.scores if s.spec["defense"] == d], expected)
                for d in self.defenses
            ]
        )

    def _cells(self, fraction: float, attack: str, defense: str) -> list[CellScore]:
        return [
            s
            for s in self.scores
            if s.spec["malicious_fraction"] == fraction
            and s.spec["attack"] == attack
            and s.spec["defense"] == defense
        ]

    def heatmap(self, fraction: float, value: str) -> np.ndarray:
        """Mean over seeds of ``retained`` or ``success``; rows attacks, columns defenses."""
        grid = np.full((len(self.attacks), len(self.defenses)), np.nan)
        for i, attack in enumerate(self.attacks):
            for j, defense in enumerate(self.defenses):
                values = [
                    getattr(s, value)
                    for s in self._cells(fraction, attack, defense)
                    if getattr(s, value) is not None
                ]
                if values:
                    grid[i, j] = float(np.mean(values))
        return grid

    def statuses(self, fraction: float) -> list[list[str]]:
        """Per heatmap square: ``failed`` (any seed), else ``done``, ``skipped`` or ``missing``."""
        grid = []
        for attack in self.attacks:
            row = []
            for defense in self.defenses:
                found = {s.status for s in self._cells(fraction, attack, defense)}
                status = next((s for s in ("failed", "done", "skipped") if s in found), "missing")
                row.append(status)
            grid.append(row)
        return grid

    def curve(self, fraction: float, attack: str, defense: str) -> tuple[list[int], list[float]]:
        """Rounds (1-based) where the utility was evaluated and its mean over seeds."""
        by_round: dict[int, list[float]] = {}
        for s in self._cells(fraction, attack, defense):
            if s.record.result is None:
                continue
            for r in s.record.result["rounds"]:
                if r.get(UTILITY) is not None:
                    by_round.setdefault(r["round"] + 1, []).append(r[UTILITY])
        rounds = sorted(by_round)
        return rounds, [float(np.mean(by_round[r])) for r in rounds]

    def baselines(self, fraction: float) -> dict[str, float]:
        """Mean over seeds of each baseline's utility, from the reference cells that hold one."""
        values: dict[str, list[float]] = {}
        for s in self._cells(fraction, REFERENCE["attack"], REFERENCE["defense"]):
            if s.record.result is not None:
                for name, metrics in s.record.result["baselines"].items():
                    values.setdefault(name, []).append(metrics[UTILITY])
        return {name: float(np.mean(v)) for name, v in sorted(values.items())}


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "panel"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def build_panels(scores: list[CellScore]) -> list[Panel]:
    """Group by panel; label each by the fields that differ between panels (else strategy)."""
    groups: dict[str, list[CellScore]] = {}
    for s in scores:
        groups.setdefault(json.dumps(panel_fields(s.spec), sort_keys=True), []).append(s)
    fixed = {key: json.loads(key) for key in groups}
    varying = [
        k
        for k in next(iter(fixed.values()), {})
        if len({json.dumps(f.get(k)) for f in fixed.values()}) > 1
    ]
    panels, taken = [], set()
    for key in sorted(groups, key=lambda k: [str(fixed[k][v]) for v in varying]):
        settings = fixed[key]
        if varying in ([], ["strategy"]):
            label = str(settings["strategy"])
        else:
            label = ", ".join(f"{k}={settings[k]}" for k in varying)
        panels.append(Panel(_slug(label, taken), label, settings, tuple(groups[key])))
    return panels
