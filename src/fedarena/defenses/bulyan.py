"""Bulyan (El Mhamdi, Guerraoui & Rouault, ICML 2018)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, OUTLIER_PATTERNS, Aggregate, Aggregator, RoundContext
from fedarena.defenses.coordinatewise import as_update, median_of_sorted
from fedarena.defenses.geometry import pairwise_sq_distances
from fedarena.defenses.krum import krum_ranking
from fedarena.defenses.tolerance import Tolerant
from fedarena.options import assumed_malicious


def iterated_krum(distances: Tensor, f: int, theta: int) -> Tensor:
    """Indices of ``theta`` updates chosen one at a time by Krum among those not yet chosen.

    Krum on r remaining updates scores each over its max(1, r - f - 2) nearest
    remaining neighbours (as Flower's ``aggregate_bulyan``); near the end a
    single neighbour makes mutual nearest pairs tie, which ``krum_ranking``
    breaks independently of the input order (Flower takes the first).
    """
    remaining = torch.arange(len(distances))
    chosen = []
    for _ in range(theta):
        r = len(remaining)
        if r == 1:
            chosen.append(remaining[0])
            break
        within = distances[remaining][:, remaining]
        best = int(krum_ranking(within, max(1, min(r - 1, r - f - 2)))[0])
        chosen.append(remaining[best])
        remaining = torch.cat([remaining[:best], remaining[best + 1 :]])
    return torch.stack(chosen)


def mean_nearest_to_median(columns: np.ndarray, beta: int) -> np.ndarray:
    """Per column of a sorted (theta, d) array, the mean of the beta values nearest its median.

    The beta values nearest any point form a contiguous window of the sorted
    column: the window whose farther end is nearest the median.
    """
    theta = len(columns)
    median = median_of_sorted(columns)
    starts = np.arange(theta - beta + 1)
    reach = np.maximum(median - columns[starts], columns[starts + beta - 1] - median)
    start = reach.argmin(axis=0)
    window = start[None, :] + np.arange(beta)[:, None]
    return np.take_along_axis(columns, window, axis=0).mean(axis=0)


@DEFENSES.register("bulyan")
class Bulyan(Tolerant, Aggregator):
    """Bulyan (El Mhamdi, Guerraoui & Rouault, "The Hidden Vulnerability of
    Distributed Learning in Byzantium", ICML 2018).

    1. Select theta = n - 2f updates by applying Krum repeatedly, removing the
       chosen update each time.
    2. For each coordinate k, average the beta = theta - 2f selected values
       nearest to their median.

    Tolerates f malicious clients when n >= 4f + 3. The theta selected clients
    count as accepted.

    >>> import torch
    >>> x = torch.tensor([[-9.0], [1.0], [1.5], [2.0], [2.5], [3.0], [100.0]])
    >>> Bulyan(f=1).aggregate(x, torch.ones(7), RoundContext.for_updates(x)).update
    tensor([2.])
    """

    bounded_against = OUTLIER_PATTERNS

    requirement = "n >= 4f + 3"

    def __init__(self, f: int | None = None) -> None:
        self.f = assumed_malicious(f)

    def tolerates(self, n: int, f: int) -> bool:
        return n >= 4 * f + 3

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        f = self.check(len(updates), ctx.n_malicious)
        theta = len(updates) - 2 * f
        chosen = iterated_krum(pairwise_sq_distances(updates), f, theta)
        columns = np.sort(updates[chosen].numpy(), axis=0)
        update = as_update(mean_nearest_to_median(columns, theta - 2 * f))
        accepted = torch.zeros(len(updates), dtype=torch.bool)
        accepted[chosen] = True
        return Aggregate(update, accepted)
