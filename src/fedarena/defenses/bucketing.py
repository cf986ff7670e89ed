"""Bucketing (Karimireddy, He & Jaggi, ICLR 2022)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, Preaggregated, PreAggregator, RoundContext
from fedarena.options import integer


@DEFENSES.register("bucketing")
class Bucketing(PreAggregator):
    """Bucketing (Karimireddy, He & Jaggi, "Byzantine-Robust Learning on
    Heterogeneous Datasets via Bucketing", ICLR 2022).

    Shuffle the n updates with the round's generator, cut them into
    ceil(n / s) buckets of s consecutive updates (the last may be smaller) and
    pass each bucket's mean on, weighted by its members' total weight. Mixing
    reduces the heterogeneity an aggregator sees; the next aggregator must
    still tolerate f buckets being contaminated. A client is flagged when the
    aggregator rejects its bucket.

    >>> import torch
    >>> x = torch.tensor([[0.0], [2.0], [4.0], [6.0]])
    >>> out = Bucketing(s=2).preaggregate(x, torch.ones(4), RoundContext.for_updates(x))
    >>> out.updates.sum(), out.weights
    (tensor(6.), tensor([2., 2.]))
    """

    permutation_invariant = False  # random buckets: the same only in distribution
    tuning_grid: ClassVar[dict[str, tuple[int, ...]]] = {"s": (2, 3, 5)}

    def __init__(self, s: int = 2) -> None:
        self.s = integer("s (bucket size)", s, 1)

    def rows_out(self, n: int) -> int:
        return math.ceil(n / self.s)

    def transform(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Preaggregated:
        n = len(updates)
        order = torch.randperm(n, generator=ctx.generator)
        bucket_of_position = torch.arange(n) // self.s
        source = torch.empty(n, dtype=torch.long)
        source[order] = bucket_of_position
        m = self.rows_out(n)
        sizes = torch.bincount(bucket_of_position, minlength=m).to(updates.dtype)
        sums = updates.new_zeros(m, updates.shape[1]).index_add_(0, source, updates)
        bucket_weights = weights.new_zeros(m).index_add_(0, source, weights)
        return Preaggregated(sums / sizes[:, None], bucket_weights, source)
