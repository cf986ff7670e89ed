"""A defense whose behaviour changes with a file's content while its spec stays the same, as
a code change would: the regression gate must notice."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from fedarena.defenses import Aggregate, Aggregator, RoundContext


class ScaledMean(Aggregator):
    """The weighted mean times the number written in the file ``path``."""

    def __init__(self, path: str) -> None:
        self.scale = float(Path(path).read_text())

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=self.scale * (weights / weights.sum()) @ updates)
