"""ClusterAttack (Yu et al., "Untargeted Attack against Federated Recommendation Systems via
Poisonous Item Embeddings and the Defense", AAAI 2023): item embeddings pulled into clusters."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.model import ItemRows
from fedarena.options import integer, real

KMEANS_ITERATIONS = 300
KMEANS_TOLERANCE = 1e-4  # the reference's: stop when (sum_j ||moved c_j||)^2 is below it


@ATTACKS.register("cluster_attack")
class ClusterAttack(Attack):
    """ClusterAttack: malicious clients who collapse the item embeddings into few clusters.

    A recommender ranks items by ``u . v_i``: items whose embeddings coincide can no longer
    be told apart, so collapsing ``V`` into ``k`` clusters degrades every user's ranking.

    *Knowledge* (``own``): the global item matrix and the malicious clients' own honest
    updates (real users taken over, as in the reference).

    *Each round* with malicious clients: k-means (Lloyd, ``k`` random items as the first
    centres, the reference's stopping rule, ``kmeans``) on ``V``, then the gradient of::

        L = 1/k sum_i ||v_i - c(i)||^2,     g_i = 2 (v_i - c(i)) / k

    with ``c(i)`` the centre of item i's cluster. Each malicious client sends every item
    row, ``-g_i b_i / ||g_i||`` with ``b_i = mu + U(0, 1) norm_scale sigma`` drawn per
    client and item, ``mu`` and ``sigma`` the mean and standard deviation of the norms of
    the rows the malicious clients' honest updates have (the reference: 3): rows as long
    as honest ones, in the direction that pulls each item to its centre.

    *Adapting k* (the reference's rule): an exponential moving average of ``L`` (decay
    ``ema_decay``, bias-corrected) is compared with its previous value every round; when
    it rose ``patience`` more times than it fell, ``k <- min(round(k + sqrt(max_clusters
    - k)), max_clusters)``; when it fell ``patience`` more times, ``k <- max(round(k -
    sqrt(k - 1)), 1)``; either resets the counts and the average and multiplies
    ``patience`` by ``1 + patience_growth`` (the reference reads this rate from an
    option it never defines: 0.1 here).

    An item's row is all its parameters (``fedarena.model.ItemRows``: FedMF's embedding
    row; the tower's embedding row and bias); a malicious client sends its honest update
    on the parameters every item shares.

    >>> attack = ClusterAttack(clusters=1)
    >>> items = torch.tensor([[0.0, 0.0], [2.0, 0.0]]).double()
    >>> gradient, loss = attack.cluster_gradient(items, torch.Generator().manual_seed(0))
    >>> gradient.tolist(), loss
    ([[-2.0, 0.0], [2.0, 0.0]], 2.0)
    """

    acts_on = frozenset({"update"})
    knowledge = "own"
    goal = "untargeted"

    def __init__(
        self,
        clusters: int = 2,
        max_clusters: int = 50,
        norm_scale: float = 3.0,
        patience: int = 100,
        patience_growth: float = 0.1,
        ema_decay: float = 0.999,
        item_rows: ItemRows | None = None,
    ) -> None:
        self.max_clusters = integer("max_clusters", max_clusters, 1)
        self.k = integer("clusters", clusters, 1)
        if self.k > self.max_clusters:
            raise ValueError(f"clusters ({clusters}) exceeds max_clusters ({max_clusters})")
        self.norm_scale = real("norm_scale", norm_scale)
        if not self.norm_scale >= 0:
            raise ValueError(f"norm_scale must be >= 0, got {norm_scale}")
        self.patience = float(integer("patience", patience, 1))
        self.patience_growth = real("patience_growth", patience_growth)
        if not self.patience_growth >= 0:
            raise ValueError(f"patience_growth must be >= 0, got {patience_growth}")
        self.ema_decay = real("ema_decay", ema_decay)
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.item_rows = item_rows
        self._ema, self._ema_steps, self._last = 0.0, 0, math.nan
        self._rose = self._fell = 0

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        own = updates[malicious]
        if not len(own) or self.item_rows is None:
            return list(updates)
        index = torch.from_numpy(self.item_rows.index)
        items = ctx.global_params[index].double()  # (n_items, width)
        gradient, loss = self.cluster_gradient(items, ctx.generator)
        self.adapt(loss)
        norms = own[:, index].double().norm(dim=-1)
        sent = norms[norms > 0]
        mu = float(sent.mean()) if len(sent) else 0.0
        sigma = float(sent.std()) if len(sent) > 1 else 0.0
        lengths = mu + self.norm_scale * sigma * torch.rand(
            len(own), len(items), generator=ctx.generator, dtype=torch.float64
        )
        unit = gradient / gradient.norm(dim=1, keepdim=True).clamp(min=1e-12)
        crafted = own.clone()
        crafted[:, index] = (-lengths[..., None] * unit).to(crafted.dtype)
        return send(updates, malicious, crafted)

    def cluster_gradient(self, items: Tensor, generator: torch.Generator) -> tuple[Tensor, float]:
        """``g = dL/dV`` and ``L`` for the current ``k`` (the class docstring)."""
        k = min(self.k, len(items))
        centres, labels = kmeans(items, k, generator)
        offset = items - centres[labels]
        return 2 * offset / k, float(offset.square().sum()) / k

    def adapt(self, loss: float) -> None:
        """One round of the rule that adapts ``k`` (the class docstring)."""
        self._ema = self.ema_decay * self._ema + (1 - self.ema_decay) * loss
        self._ema_steps += 1
        average = self._ema / (1 - self.ema_decay**self._ema_steps)
        if not math.isnan(self._last):
            self._rose += average > self._last
            self._fell += average < self._last
        self._last = average
        step = None
        if self._rose - self._fell >= self.patience:
            step = min(round(self.k + math.sqrt(self.max_clusters - self.k)), self.max_clusters)
        elif self._fell - self._rose >= self.patience:
            step = max(round(self.k - math.sqrt(self.k - 1)), 1)
        if step is not None:
            self.k = step
            self._ema, self._ema_steps, self._last = 0.0, 0, math.nan
            self._rose = self._fell = 0
            self.patience *= 1 + self.patience_growth


def kmeans(points: Tensor, k: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means from ``k`` distinct random points: the centres (k, d) and each point's
    cluster (n,). An emptied cluster keeps its centre. Deterministic for a generator."""
    centres = points[torch.randperm(len(points), generator=generator)[:k]].clone()
    for _ in range(KMEANS_ITERATIONS):
        labels = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, labels, points)
        counts = torch.bincount(labels, minlength=k).to(points.dtype)
        moved = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
        shift = float((moved - centres).norm(dim=1).sum())
        centres = moved
        if shift**2 < KMEANS_TOLERANCE:
            break
    return centres, torch.cdist(points, centres).argmin(dim=1)
