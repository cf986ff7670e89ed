"""Nearest-neighbour mixing (Allouah et al., AISTATS 2023)."""

from __future__ import annotations

import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, Preaggregated, PreAggregator, RoundContext
from fedarena.defenses.geometry import pairwise_sq_distances
from fedarena.options import assumed_malicious


@DEFENSES.register("nnm")
class NearestNeighbourMixing(PreAggregator):
    """Nearest-neighbour mixing, NNM (Allouah, Farhadkhani, Guerraoui, Gupta,
    Pinot & Stephan, "Fixing by Mixing", AISTATS 2023).

    Each update is replaced by the mean of its n - f nearest updates (itself
    included):  y_i = 1/(n - f) sum_{j in N_i} x_j. All n mixtures come from one
    (n, n) selection matrix times the (n, d) updates. Needs f < n. Rows stay
    with their clients, so a client is flagged when the aggregator rejects its
    mixture.

    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    >>> nnm = NearestNeighbourMixing(f=1)
    >>> nnm.preaggregate(x, torch.ones(4), RoundContext.for_updates(x)).updates
    tensor([[1.0000],
            [1.0000],
            [1.0000],
            [4.3333]])
    """

    def __init__(self, f: int | None = None) -> None:
        self.f = assumed_malicious(f)

    def check(self, n: int, n_malicious: int) -> int:
        """Return ``f``, or raise naming the unmet requirement f < n."""
        f = n_malicious if self.f is None else self.f
        if not f < n:
            raise ValueError(f"nnm needs f < n, got n={n}, f={f}")
        return f

    def transform(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Preaggregated:
        n = len(updates)
        f = self.check(n, ctx.n_malicious)
        nearest = pairwise_sq_distances(updates).topk(n - f, dim=1, largest=False).indices
        mixing = torch.zeros(n, n).scatter_(1, nearest, 1.0 / (n - f))
        return Preaggregated(mixing @ updates, weights)
