"""Krum and Multi-Krum (Blanchard et al., NeurIPS 2017): keep the most central updates."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import (
    DEFENSES,
    OUTLIER_PATTERNS,
    Aggregate,
    Aggregator,
    RoundContext,
    weighted_mean,
)
from fedarena.defenses.geometry import pairwise_sq_distances
from fedarena.defenses.tolerance import Tolerant
from fedarena.options import assumed_malicious, integer


def krum_scores(distances: Tensor, neighbours: int) -> Tensor:
    """score(i) = sum of the squared distances from x_i to its ``neighbours`` nearest others.

    ``distances`` is the (n, n) matrix of squared distances; Krum takes
    neighbours = n - f - 2.
    """
    n = len(distances)
    others = distances + torch.diag(torch.full((n,), float("inf"), dtype=distances.dtype))
    return others.topk(neighbours, dim=1, largest=False).values.sum(dim=1)


def krum_ranking(distances: Tensor, neighbours: int, scores: Tensor | None = None) -> Tensor:
    """Indices from most to least central by Krum score (``scores``, when already computed).

    Equal scores (two updates that are each other's only neighbour score the
    same) are ordered by the total distance to all others, so that the ranking
    does not depend on the order the updates came in.
    """
    scores = krum_scores(distances, neighbours) if scores is None else scores
    return torch.from_numpy(np.lexsort((distances.sum(dim=1).numpy(), scores.numpy())))


@DEFENSES.register("krum")
class Krum(Tolerant, Aggregator):
    """Krum (Blanchard et al., NeurIPS 2017).

    score(i) = sum_{j in N_i} ||x_i - x_j||^2 over the n - f - 2 updates N_i
    nearest to x_i; the output is the update of least score. Tolerates f
    malicious clients when n > 2f + 2. Only the chosen client counts as accepted;
    every client's score is its suspicion.

    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0], [4.0], [100.0]])
    >>> Krum(f=1).aggregate(x, torch.ones(5), RoundContext.for_updates(x)).update
    tensor([1.])
    """

    bounded_against = OUTLIER_PATTERNS

    requirement = "n > 2f + 2"

    def __init__(self, f: int | None = None) -> None:
        self.f = assumed_malicious(f)

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f + 2

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        f = self.check(len(updates), ctx.n_malicious)
        distances = pairwise_sq_distances(updates)
        scores = krum_scores(distances, len(updates) - f - 2)
        chosen = int(krum_ranking(distances, len(updates) - f - 2, scores)[0])
        accepted = torch.zeros(len(updates), dtype=torch.bool)
        accepted[chosen] = True
        return Aggregate(updates[chosen].clone(), accepted, suspicion=scores)


@DEFENSES.register("multi_krum")
class MultiKrum(Tolerant, Aggregator):
    """Multi-Krum (Blanchard et al., NeurIPS 2017).

    Select the m updates of least Krum score (see ``krum``) and return their
    sample-size weighted mean; m = n - f by default. Tolerates f malicious
    clients when n > 2f + 2. The m selected clients count as accepted; every
    client's Krum score is its suspicion.

    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0], [4.0], [100.0]])
    >>> MultiKrum(f=1).aggregate(x, torch.ones(5), RoundContext.for_updates(x)).update
    tensor([1.7500])
    """

    bounded_against = OUTLIER_PATTERNS

    def __init__(self, f: int | None = None, m: int | None = None) -> None:
        self.f = assumed_malicious(f)
        self.m = None if m is None else integer("m", m, 1)
        self.requirement = "n > 2f + 2" if m is None else f"n > 2f + 2 and n >= m = {m}"

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f + 2 and (self.m is None or n >= self.m)

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        f = self.check(len(updates), ctx.n_malicious)
        m = len(updates) - f if self.m is None else self.m
        distances = pairwise_sq_distances(updates)
        scores = krum_scores(distances, len(updates) - f - 2)
        chosen = krum_ranking(distances, len(updates) - f - 2, scores)[:m]
        accepted = torch.zeros(len(updates), dtype=torch.bool)
        accepted[chosen] = True
        update = weighted_mean(updates, weights * accepted, updates.shape[1])
        return Aggregate(update, accepted, {"selected": float(m)}, scores)
