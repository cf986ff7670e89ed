"""Group scored cells into panels: the attack x defense x fraction x seed grid of one setting.

A panel holds the cells that share every spec field but attack, defense,
malicious fraction and seed (one panel per strategy in the shipped matrices).
It ranks its defenses and gives what the tables and figures show: each
square's values per seed, the convergence bands over seeds, the final privacy
and detection values of a defense's cells, and the family that gives a
defense one colour in every panel.

With a matrix's ``Tuning`` (``fedarena.matrix.file``), a tuned defense is
reported at one setting per panel (``select_settings``, ``TUNING_METHOD``),
chosen on the tuning seeds alone; the panel's scores, heatmaps and curves then
use only the reported seeds' cells of the settings chosen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
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
from fedarena.matrix.file import Tuning
from fedarena.scenario.spec import Scenario

TUNING_METHOD = (
    "Tuned defenses (ByzFL's protocol, Allouah et al.): every setting of a defense's tuning "
    "grid also ran on tuning seeds, which no score reports. In each panel the defense is shown "
    "at the setting with the best worst case over attacks on the tuning seeds alone (the "
    "highest mean robust score over them; a tie goes to the setting listed first), named in "
    "its row; its scores come from the reported seeds only."
)


@dataclass(frozen=True)
class Choice:
    """The setting a panel reports a tuned defense at: ``chosen`` (its defense text) among the
    settings of ``tuned``, by each setting's mean robust score over the tuning seeds
    (``scores``; ``None`` where none of its cells scored)."""

    tuned: str
    chosen: str
    name: str
    setting: tuple[tuple[str, Any], ...]
    seeds: tuple[int, ...]
    scores: dict[str, float | None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tuned": self.tuned,
            "chosen": self.chosen,
            "setting": dict(self.setting),
            "tuning_seeds": list(self.seeds),
            "selection_scores": self.scores,
        }


@dataclass(frozen=True)
class Selection:
    """A panel's choices (by chosen defense text), its tuning seeds and the settings passed
    over."""

    seeds: frozenset[int]
    choices: dict[str, Choice]
    passed_over: frozenset[str]


def select_settings(scores: Sequence[CellScore], tuning: Tuning) -> Selection:
    """Per tuned defense among one panel's ``scores``, the setting of highest mean robust score
    over the tuning seeds (each seed's robust score being its worst case over attacks and
    malicious fractions, as ranked); no cell of a reported seed is looked at."""
    present = {s.spec["defense"] for s in scores}
    groups: dict[str, list[str]] = {}
    for text, variant in tuning.variants.items():
        if text in present:
            groups.setdefault(variant.tuned, []).append(text)
    tuning_cells = [s for s in scores if s.spec["seed"] in tuning.seeds]
    choices, passed_over = {}, set()
    for tuned, texts in groups.items():
        found: dict[str, float | None] = {}
        for text in texts:
            cells = [s for s in tuning_cells if s.spec["defense"] == text]
            found[text] = rank_defense(text, cells, len(cells)).robust.mean
        best = max(texts, key=lambda t: (found[t] is not None, found[t] or 0.0))
        seeds = sorted({s.spec["seed"] for s in tuning_cells if s.spec["defense"] in texts})
        variant = tuning.variants[best]
        choices[best] = Choice(tuned, best, variant.name, variant.setting, tuple(seeds), found)
        passed_over |= set(texts) - {best}
    return Selection(tuning.seeds, choices, frozenset(passed_over))


def _reference_first(values: set[str], reference: str) -> list[str]:
    return sorted(values, key=lambda v: (v != reference, v))


@dataclass(frozen=True)
class Panel:
    """One setting's cells, with its name for people (``label``) and for files (``slug``);
    ``selection``: the settings its tuned defenses are reported at."""

    slug: str
    label: str
    fixed: dict[str, Any]
    scores: tuple[CellScore, ...]
    selection: Selection | None = None

    @cached_property
    def reported(self) -> tuple[CellScore, ...]:
        """The cells that scores, heatmaps and curves use: every cell, or with a selection
        neither the tuning seeds' cells nor those of the settings passed over."""
        if self.selection is None:
            return self.scores
        chosen = self.selection
        return tuple(
            s
            for s in self.scores
            if s.spec["seed"] not in chosen.seeds and s.spec["defense"] not in chosen.passed_over
        )

    def choice_named(self, name: str) -> Choice | None:
        """The choice a ranking row of this ``name`` reports, if it is a tuned defense's."""
        choices = self.selection.choices.values() if self.selection else ()
        return next((c for c in choices if c.name == name), None)

    def _row_name(self, defense: str) -> str:
        choice = self.selection.choices.get(defense) if self.selection else None
        return defense if choice is None else choice.name

    @property
    def attacks(self) -> list[str]:
        return _reference_first({s.spec["attack"] for s in self.reported}, REFERENCE["attack"])

    @property
    def defenses(self) -> list[str]:
        return _reference_first({s.spec["defense"] for s in self.reported}, REFERENCE["defense"])

    @property
    def fractions(self) -> list[float]:
        return sorted({s.spec["malicious_fraction"] for s in self.reported})

    @property
    def seeds(self) -> list[int]:
        return sorted({s.spec["seed"] for s in self.reported})

    def ranking(self) -> list[DefenseRank]:
        expected = len(self.attacks) * len(self.fractions) * len(self.seeds)
        return rank(
            [
                rank_defense(
                    self._row_name(d),
                    [s for s in self.reported if s.spec["defense"] == d],
                    expected,
                )
                for d in self.defenses
            ]
        )

    def _cells(self, fraction: float, attack: str, defense: str) -> list[CellScore]:
        return [
            s
            for s in self.reported
            if s.spec["malicious_fraction"] == fraction
            and s.spec["attack"] == attack
            and s.spec["defense"] == defense
        ]

    def family(self, defense: str) -> str:
        """What names ``defense`` in every panel: a tuned defense's tuned name (its setting may
        differ between panels), else its text."""
        choice = self.selection.choices.get(defense) if self.selection else None
        return defense if choice is None else choice.tuned

    def row_names(self) -> dict[str, str]:
        """The ranking row of each defense text (a tuned defense's row names its setting)."""
        return {d: self._row_name(d) for d in self.defenses}

    def goal(self, attack: str) -> str | None:
        """``targeted``, ``untargeted`` or ``none``, as ``attack``'s results say (``None``
        when none of its cells has a result)."""
        goals = (s.goal for s in self.reported if s.spec["attack"] == attack)
        return next((g for g in goals if g is not None), None)

    def per_seed(self, fraction: float, attack: str, defense: str, value: str) -> dict[int, float]:
        """``retained`` or ``success`` of one square's cells, by seed, where defined."""
        return {
            s.spec["seed"]: v
            for s in self._cells(fraction, attack, defense)
            if (v := getattr(s, value)) is not None
        }

    def heatmap(self, fraction: float, value: str) -> np.ndarray:
        """Mean over seeds of ``retained`` or ``success``; rows attacks, columns defenses."""
        grid = np.full((len(self.attacks), len(self.defenses)), np.nan)
        for i, attack in enumerate(self.attacks):
            for j, defense in enumerate(self.defenses):
                values = list(self.per_seed(fraction, attack, defense, value).values())
                if values:
                    grid[i, j] = float(np.mean(values))
        return grid

    def status(self, fraction: float, attack: str, defense: str) -> str:
        """``failed`` (any seed), else ``done``, ``skipped`` or ``missing``."""
        found = {s.status for s in self._cells(fraction, attack, defense)}
        return next((s for s in ("failed", "done", "skipped") if s in found), "missing")

    def statuses(self, fraction: float) -> list[list[str]]:
        """Per heatmap square: ``failed`` (any seed), else ``done``, ``skipped`` or ``missing``."""
        return [[self.status(fraction, a, d) for d in self.defenses] for a in self.attacks]

    def final_values(self, defense: str, metric: str, attacked: bool = False) -> list[float]:
        """``metric`` of the final results of ``defense``'s done cells (only the attacked ones
        if ``attacked``), where the result defines it."""
        return [
            float(v)
            for s in self.reported
            if s.spec["defense"] == defense and s.record.result is not None
            if s.attacked or not attacked
            if isinstance(v := s.record.result["final"].get(metric), int | float) and np.isfinite(v)
        ]

    def band(
        self, fraction: float, attack: str, defense: str, metric: str = UTILITY
    ) -> dict[str, list[Any]]:
        """Rounds (1-based) where ``metric`` was evaluated, and its mean, min and max over
        seeds there."""
        by_round: dict[int, list[float]] = {}
        for s in self._cells(fraction, attack, defense):
            if s.record.result is None:
                continue
            for r in s.record.result["rounds"]:
                if r.get(metric) is not None:
                    by_round.setdefault(r["round"] + 1, []).append(r[metric])
        rounds = sorted(by_round)
        return {
            "rounds": rounds,
            "mean": [float(np.mean(by_round[r])) for r in rounds],
            "min": [float(np.min(by_round[r])) for r in rounds],
            "max": [float(np.max(by_round[r])) for r in rounds],
        }

    def curve(self, fraction: float, attack: str, defense: str) -> tuple[list[int], list[float]]:
        """Rounds (1-based) where the utility was evaluated and its mean over seeds."""
        band = self.band(fraction, attack, defense)
        return band["rounds"], band["mean"]

    def baselines(self, fraction: float) -> dict[str, float]:
        """Mean over seeds of each baseline's utility, from the reference cells that hold one."""
        values: dict[str, list[float]] = {}
        for s in self._cells(fraction, REFERENCE["attack"], REFERENCE["defense"]):
            if s.record.result is not None:
                for name, metrics in s.record.result["baselines"].items():
                    values.setdefault(name, []).append(metrics[UTILITY])
        return {name: float(np.mean(v)) for name, v in sorted(values.items())}


HEADLINE_FIELDS = ("population", "model", "strategy")  # what a combined board's labels name


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "panel"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def varying_fields(settings: Sequence[dict[str, Any]]) -> list[str]:
    """The fields whose value differs between panels' settings (a field a panel lacks, such as
    the shop's options on a MovieLens panel, differs), in order of first appearance.

    >>> varying_fields([{"strategy": "fedavg", "rounds": 5}, {"strategy": "fedprox", "rounds": 5}])
    ['strategy']
    """
    keys = dict.fromkeys(k for fixed in settings for k in fixed)
    return [k for k in keys if len({json.dumps(f.get(k)) for f in settings}) > 1]


def panel_labels(settings: Sequence[dict[str, Any]]) -> list[str]:
    """Each panel's label: its strategy alone where only the strategy differs between panels;
    else the headline fields among those that differ (population, model, strategy: a shop
    board beside a MovieLens one), or every differing field where those do not tell the
    panels apart. The settings line under each label lists the rest.

    A field a spec leaves out at its default (``population``, ``model``) reads as that default.

    >>> panel_labels([{"strategy": "fedavg"}, {"strategy": "fedprox"}])
    ['fedavg', 'fedprox']
    >>> panel_labels([{"rounds": 30}, {"population": "movielens", "rounds": 34}])
    ['population=shop', 'population=movielens']
    """
    varying = varying_fields(settings)
    if varying in ([], ["strategy"]):
        return [str(_value(fixed, "strategy")) for fixed in settings]
    headline = [k for k in HEADLINE_FIELDS if k in varying]
    for shown in (headline, varying):
        labels = [", ".join(f"{k}={_value(fixed, k)}" for k in shown) for fixed in settings]
        if shown and len(set(labels)) == len(labels):
            return labels
    return labels


def _value(settings: dict[str, Any], name: str) -> Any:
    """A panel's value of spec field ``name``, its default where the spec leaves it out."""
    default = Scenario.__dataclass_fields__.get(name)
    return settings.get(name, default.default if default is not None else None)


def build_panels(scores: list[CellScore], tuning: Tuning | None = None) -> list[Panel]:
    """Group by panel; label each by the fields that differ between panels (else strategy);
    with a ``tuning``, choose each panel's settings of its tuned defenses."""
    groups: dict[str, list[CellScore]] = {}
    for s in scores:
        groups.setdefault(json.dumps(panel_fields(s.spec), sort_keys=True), []).append(s)
    fixed = {key: json.loads(key) for key in groups}
    varying = varying_fields(list(fixed.values()))
    keys = sorted(groups, key=lambda k: [str(fixed[k].get(v)) for v in varying])
    labels = panel_labels([fixed[k] for k in keys])
    panels, taken = [], set()
    for key, label in zip(keys, labels, strict=True):
        settings = fixed[key]
        cells = tuple(groups[key])
        selection = select_settings(cells, tuning) if tuning and tuning.variants else None
        panels.append(Panel(_slug(label, taken), label, settings, cells, selection))
    return panels
