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
from fedarena.defenses.per_item import SentRows, checked_per_item, sent_rows
from fedarena.defenses.tolerance import Tolerant
from fedarena.model import ItemRows
from fedarena.options import assumed_malicious, integer

ITEM_CHUNK = 256  # items whose (k, k) distances a per-item Krum computes at once


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

    ``per_item = true`` (``fedarena.defenses.per_item``): the parameters every
    item shares come from Krum over all clients, which also gives the verdict
    and the suspicion (over the whole update when the model shares none); each
    item's row is the row Krum chooses among the k clients that sent it, with
    f_k = min(f, (k - 3) // 2) so that k > 2 f_k + 2, and the mean of the
    senders' rows when k <= 2 (Krum has no neighbours to score them by).

    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0], [4.0], [100.0]])
    >>> Krum(f=1).aggregate(x, torch.ones(5), RoundContext.for_updates(x)).update
    tensor([1.])
    """

    bounded_against = OUTLIER_PATTERNS

    requirement = "n > 2f + 2"

    def __init__(
        self, f: int | None = None, per_item: bool = False, item_rows: ItemRows | None = None
    ) -> None:
        self.f = assumed_malicious(f)
        self.per_item = checked_per_item(per_item, item_rows)
        self.item_rows = item_rows

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f + 2

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        f = self.check(len(updates), ctx.n_malicious)
        rows = self.item_rows if self.per_item else None
        judged = updates if rows is None or not len(rows.dense) else updates[:, rows.dense]
        distances = pairwise_sq_distances(judged)
        scores = krum_scores(distances, len(updates) - f - 2)
        chosen = int(krum_ranking(distances, len(updates) - f - 2, scores)[0])
        accepted = torch.zeros(len(updates), dtype=torch.bool)
        accepted[chosen] = True
        update = updates[chosen].clone()
        if rows is not None:
            sent = sent_rows(updates.detach().cpu().numpy(), rows)
            if len(sent.touched):
                chosen_rows = _krum_per_item(sent, f).reshape(-1)
                update[torch.from_numpy(sent.columns)] = chosen_rows.to(update.dtype)
        return Aggregate(update, accepted, suspicion=scores)


def _krum_per_item(sent: SentRows, f: int) -> Tensor:
    """Krum's row for each touched item among its k senders (see ``Krum``), (t, width)."""
    out = torch.zeros(sent.block.shape[1:], dtype=torch.float64)
    counts = sent.senders.sum(axis=0)
    senders_first = np.argsort(~sent.senders, axis=0, kind="stable")  # (n, t)
    for k in np.unique(counts):
        group = np.flatnonzero(counts == k)
        for start in range(0, len(group), ITEM_CHUNK):
            items = group[start : start + ITEM_CHUNK]
            who = senders_first[:k, items]  # (k, m)
            rows = torch.from_numpy(sent.block[who, items].transpose(1, 0, 2)).double()
            out[torch.from_numpy(items)] = _krum_rows(rows, k, f)
    return out


def _krum_rows(rows: Tensor, k: int, f: int) -> Tensor:
    """For each of m items, the Krum choice among its k rows (m, k, width), as ``krum_ranking``
    chooses: least score, ties by least total distance; the mean when k <= 2."""
    if k <= 2:
        return rows.mean(dim=1)
    squares = rows.square().sum(-1)
    distances = squares[:, :, None] + squares[:, None, :] - 2 * rows @ rows.transpose(1, 2)
    distances = distances.clamp_min(0)
    total = distances.sum(-1)
    distances.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    neighbours = k - min(f, (k - 3) // 2) - 2
    scores = distances.topk(neighbours, dim=2, largest=False).values.sum(-1)
    by_total = torch.argsort(total, dim=1, stable=True)
    best = torch.argsort(scores.gather(1, by_total), dim=1, stable=True)[:, 0]
    chosen = by_total.gather(1, best[:, None]).squeeze(1)
    return rows[torch.arange(len(rows)), chosen]


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
