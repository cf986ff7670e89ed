"""Plain weighted averaging: the undefended baseline."""

from __future__ import annotations

from torch import Tensor

from fedarena.defenses.base import DEFENSES, Aggregate, RoundContext


@DEFENSES.register("fedavg")
class FedAvg:
    """Sample-size weighted mean (McMahan et al., AISTATS 2017).

    g = sum_i w_i x_i / sum_i w_i. Breakdown point 0: one client moves it anywhere.
    """

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        w = weights / weights.sum()
        return Aggregate(update=w @ updates)
