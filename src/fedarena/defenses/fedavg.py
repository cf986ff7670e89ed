"""Plain weighted averaging: the undefended baseline."""

from __future__ import annotations

from torch import Tensor

from fedarena.defenses.base import (
    DEFENSES,
    Aggregate,
    Aggregator,
    RoundContext,
    is_finite,
    weighted_mean,
)
from fedarena.options import flag


@DEFENSES.register("fedavg")
class FedAvg(Aggregator):
    """Sample-size weighted mean (McMahan et al., AISTATS 2017).

    g = sum_i w_i x_i / sum_i w_i. Breakdown point 0: one client moves it anywhere.
    ``weighted = false`` gives every client the same weight, the federated-recommendation
    papers' server (FedMF, FedRecAttack, PipAttack sum their clients' updates unweighted):
    on a heavy-tailed log, weighting by count hands a few heavy users most of the model.

    >>> import torch
    >>> x, w = torch.tensor([[0.0], [3.0]]), torch.tensor([2.0, 1.0])
    >>> FedAvg().aggregate(x, w, RoundContext.for_updates(x)).update
    tensor([1.])
    >>> FedAvg(weighted=False).aggregate(x, w, RoundContext.for_updates(x)).update
    tensor([1.5000])
    """

    weighted = True  # what subclasses (DP-SGD's server side) average by
    columnwise = True

    def __init__(self, weighted: bool = True) -> None:
        self.weighted = flag("weighted", weighted)

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        used = weights if self.weighted else (weights > 0).to(weights.dtype)
        return Aggregate(update=weighted_mean(updates, used, updates.shape[1]))

    def unscreened(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate | None:
        # With a positive total weight, a NaN or Inf in any row makes the mean non-finite.
        if not weights.sum() > 0:
            return None
        result = self.combine(updates, weights, ctx)
        return result if is_finite(result.update) else None
