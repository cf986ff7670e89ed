"""Coordinate-wise trimmed mean (Yin et al., ICML 2018)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from torch import Tensor

from fedarena.defenses.base import DEFENSES, OUTLIER_PATTERNS, RoundContext
from fedarena.defenses.coordinatewise import CoordinateWise, as_update
from fedarena.defenses.tolerance import Tolerant
from fedarena.model import ItemRows
from fedarena.options import assumed_malicious, is_number


@DEFENSES.register("trimmed_mean")
class TrimmedMean(Tolerant, CoordinateWise):
    """Coordinate-wise trimmed mean (Yin et al., ICML 2018).

    For each coordinate k, drop the f largest and f smallest values and
    average the rest:  g_k = 1/(n - 2f) * sum_{j=f+1}^{n-f} x_(j),k.
    Tolerates f malicious clients when n > 2f. ``f`` is the option, else
    floor(beta * n) when ``beta`` is given (``scipy.stats.trim_mean``'s
    proportion), else the scenario's assumed count. No client is flagged.

    ``per_item = true`` (``fedarena.defenses.coordinatewise``): each item's row
    is averaged over its k senders, trimming floor(beta * k) from each end, or
    min(f, (k - 1) // 2) (no more than an item with k senders can lose while
    keeping one value).

    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0], [6.0], [100.0]])
    >>> TrimmedMean(f=1).aggregate(x, torch.ones(5), RoundContext.for_updates(x)).update
    tensor([3.])
    """

    bounded_against = OUTLIER_PATTERNS

    requirement = "n > 2f"
    # beta must reach the malicious fraction (0.1 and 0.2 in the shipped matrices).
    tuning_grid: ClassVar[dict[str, tuple[float, ...]]] = {"beta": (0.1, 0.2, 0.3)}

    def __init__(
        self,
        f: int | None = None,
        beta: float | None = None,
        per_item: bool = False,
        item_rows: ItemRows | None = None,
    ) -> None:
        self.set_per_item(per_item, item_rows)
        self.f = assumed_malicious(f)
        if beta is not None and f is not None:
            raise ValueError("give f or beta, not both")
        if beta is not None and not (is_number(beta) and 0 <= beta < 0.5):
            raise ValueError(f"beta must be in [0, 0.5), got {beta!r}")
        self.beta = beta

    def assumed_f(self, n: int, n_malicious: int) -> int:
        if self.beta is not None:
            return int(self.beta * n)
        return super().assumed_f(n, n_malicious)

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f

    def from_sorted(self, columns: np.ndarray, ctx: RoundContext) -> Tensor:
        f = self.check(len(columns), ctx.n_malicious)
        return as_update(columns[f : len(columns) - f].mean(axis=0))

    def from_sorted_counts(
        self, columns: np.ndarray, counts: np.ndarray, ctx: RoundContext
    ) -> np.ndarray:
        if self.beta is not None:
            trim = (self.beta * counts).astype(np.int64)
        else:
            f = ctx.n_malicious if self.f is None else self.f
            trim = np.minimum(f, (counts - 1) // 2)
        rank = np.arange(len(columns))[:, None]
        kept = (rank >= trim) & (rank < counts - trim)
        total = np.where(kept, columns, 0.0).sum(axis=0, dtype=np.float64)
        return total / (counts - 2 * trim)
