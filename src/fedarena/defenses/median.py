"""Coordinate-wise median (Yin et al., ICML 2018)."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from fedarena.defenses.base import DEFENSES, OUTLIER_PATTERNS, RoundContext
from fedarena.defenses.coordinatewise import (
    CoordinateWise,
    as_update,
    median_of_sorted,
    per_column_median,
)
from fedarena.model import ItemRows


@DEFENSES.register("median")
class Median(CoordinateWise):
    """Coordinate-wise median (Yin et al., ICML 2018).

    g_k = median(x_1k, ..., x_nk), the mean of the two middle values when n is
    even (as ``numpy.median``). Breakdown point 1/2: fewer than n/2 malicious
    clients cannot move any coordinate outside the benign values' range. No
    client is rejected as a whole, so none is flagged. ``per_item = true``: the
    median of each item's row among the clients that sent it
    (``fedarena.defenses.coordinatewise``).

    >>> import torch
    >>> x = torch.tensor([[0.0, 5.0], [1.0, 6.0], [2.0, 7.0], [100.0, -100.0]])
    >>> Median().aggregate(x, torch.ones(4), RoundContext.for_updates(x)).update
    tensor([1.5000, 5.5000])
    """

    bounded_against = OUTLIER_PATTERNS

    def __init__(self, per_item: bool = False, item_rows: ItemRows | None = None) -> None:
        self.set_per_item(per_item, item_rows)

    def from_sorted(self, columns: np.ndarray, ctx: RoundContext) -> Tensor:
        return as_update(median_of_sorted(columns))

    def from_sorted_counts(
        self, columns: np.ndarray, counts: np.ndarray, ctx: RoundContext
    ) -> np.ndarray:
        return per_column_median(columns, counts)
