"""The statistics a ranking rests on: bootstrap intervals over seeds and rank groups from paired
tests with Holm's correction.

- Interval: the percentile bootstrap of the mean over seeds (Efron & Tibshirani 1993):
  ``RESAMPLES`` resamples of the seeds with replacement, drawn from a generator seeded
  with ``BOOTSTRAP_SEED``, and the 2.5 % and 97.5 % quantiles of their means. Every
  resampled mean lies between the smallest and the largest value, so an interval of
  scores in [0, 1] stays in [0, 1].
- Paired test: two defenses of one panel are compared on the cells both ran (same seed,
  attack and malicious fraction), by the Wilcoxon signed-rank test of their cell scores
  (two-sided; zero differences ranked and their ranks split evenly between the signs,
  scipy's ``zsplit``), as Demsar (2006) recommends for two methods over many data sets.
- Rank groups: defenses sorted by score; each adjacent pair's p-value is adjusted by
  Holm's step-down method over the panel's adjacent pairs, and the lower defense takes a
  new rank only if the adjusted p-value is below ``ALPHA`` and its cells are worse on
  average (the difference points the way the order does). Otherwise it shares the rank of
  the one above (``2=``), so every strict rank difference is significant after correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
ALPHA = 0.05

METHOD = (
    f"Intervals are {CONFIDENCE:.0%} percentile bootstrap intervals of the mean over seeds "
    f"({RESAMPLES:,} resamples of the seeds, generator seed {BOOTSTRAP_SEED}; none for a single "
    "seed), so they stay inside the range of the values. Adjacent defenses in a panel are "
    "compared by the two-sided Wilcoxon signed-rank test of their cell scores over the cells "
    "both ran (same seed, attack and malicious fraction; zero differences split), the "
    "p-values adjusted by Holm's method over the panel's adjacent pairs; a defense takes a "
    f"rank of its own only if the adjusted p-value is below {ALPHA} and its cells are worse on "
    "average than the defense above, otherwise it shares that defense's rank (shown as 2=)."
)


@dataclass(frozen=True)
class Interval:
    """The bootstrap interval of a mean; ``None`` bounds where there is a single value."""

    low: float | None
    high: float | None


def bootstrap_interval(values: Sequence[float]) -> Interval:
    """The percentile bootstrap interval of the mean of ``values`` (see the module docstring).

    >>> bootstrap_interval([0.2, 0.4, 0.6]).low >= 0.2
    True
    """
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return Interval(None, None)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = data[rng.integers(0, len(data), size=(RESAMPLES, len(data)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.clip(np.quantile(means, [tail, 1 - tail]), data.min(), data.max())
    # Resampled means lie within [min, max] but for the rounding of a float mean: clipped.
    return Interval(float(low), float(max(low, high)))


@dataclass(frozen=True)
class Comparison:
    """The paired test of one defense against the one ranked just above it."""

    above: str
    below: str
    n_cells: int
    mean_difference: float | None
    statistic: float | None
    p_value: float | None
    p_holm: float | None = None

    @property
    def distinct(self) -> bool:
        """Whether the lower defense is significantly worse than the one above."""
        return (
            self.p_holm is not None
            and self.p_holm < ALPHA
            and self.mean_difference is not None
            and self.mean_difference > 0
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "above": self.above,
            "below": self.below,
            "test": "wilcoxon signed-rank, two-sided, zsplit",
            "n_cells": self.n_cells,
            "mean_difference": self.mean_difference,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_holm": self.p_holm,
            "distinct": self.distinct,
        }


def paired_test(
    above: str, below: str, upper: Sequence[float], lower: Sequence[float]
) -> Comparison:
    """Wilcoxon signed-rank test of paired cell scores ``upper[i]`` vs ``lower[i]``."""
    differences = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    if len(differences) == 0:
        return Comparison(above, below, 0, None, None, None)
    mean = float(differences.mean())
    if not np.any(differences):
        return Comparison(above, below, len(differences), mean, 0.0, 1.0)
    result = stats.wilcoxon(differences, zero_method="zsplit", alternative="two-sided")
    return Comparison(
        above, below, len(differences), mean, float(result.statistic), float(result.pvalue)
    )


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of the defined p-values (``None`` stays ``None``).

    >>> holm([0.01, 0.04, None, 0.03])
    [0.03, 0.06, None, 0.06]
    """
    defined = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for step, (p, i) in enumerate(sorted(defined)):
        running = max(running, min(1.0, (len(defined) - step) * p))
        adjusted[i] = round(running, 15)
    return adjusted


def rank_labels(comparisons: Sequence[Comparison], n_ranked: int) -> list[str]:
    """Rank labels of ``n_ranked`` defenses in score order, from the comparisons of each with
    the one above (``comparisons[i]`` compares defense i and i + 1): ``1``, ``2=``, ``2=``...

    >>> distinct = Comparison("a", "b", 9, 0.2, 0.0, 0.01, 0.02)
    >>> tied = Comparison("b", "c", 9, 0.0, 1.0, 0.9, 0.9)
    >>> rank_labels([distinct, tied], 3)
    ['1', '2=', '2=']
    """
    starts = [0] if n_ranked else []
    for i in range(1, n_ranked):
        starts.append(i if comparisons[i - 1].distinct else starts[-1])
    sizes = {s: starts.count(s) for s in starts}
    return [f"{s + 1}{'=' if sizes[s] > 1 else ''}" for s in starts]
