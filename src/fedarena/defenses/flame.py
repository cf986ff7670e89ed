"""FLAME (Nguyen et al., USENIX Security 2022): cluster, clip, add noise."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, OUTLIER_PATTERNS, Aggregate, Aggregator, RoundContext
from fedarena.defenses.geometry import (
    clip_factors,
    cosine_similarities,
    median,
    row_norms,
)
from fedarena.defenses.per_item import SentRows, checked_per_item, sent_rows
from fedarena.model import ItemRows
from fedarena.options import non_negative


def majority_cluster(distances: np.ndarray) -> np.ndarray:
    """(n,) mask of the largest HDBSCAN cluster (min_cluster_size = n/2 + 1) of precomputed
    distances; everyone when there are too few points to cluster or no cluster forms."""
    # Imported here: scikit-learn is slow to import and only FLAME needs it.
    from sklearn.cluster import HDBSCAN

    n = len(distances)
    if n < 3:
        return np.ones(n, dtype=bool)
    labels = (
        HDBSCAN(
            min_cluster_size=n // 2 + 1,
            min_samples=1,
            metric="precomputed",
            allow_single_cluster=True,
            copy=True,
        )
        .fit(distances)
        .labels_
    )
    clustered = labels[labels >= 0]
    if len(clustered) == 0:
        return np.ones(n, dtype=bool)
    return labels == np.bincount(clustered).argmax()


@DEFENSES.register("flame")
class Flame(Aggregator):
    """FLAME (Nguyen et al., "FLAME: Taming Backdoors in Federated Learning",
    USENIX Security 2022).

    1. Cluster the updates by cosine distance with HDBSCAN (min_cluster_size =
       n/2 + 1, min_samples = 1) and keep the majority cluster; the others are
       flagged. (The paper clusters local models; with a shared starting point
       their differences, the updates, carry the same directions without the
       common offset.) A client's suspicion is the distance FLAME clusters
       by, taken to the majority cluster: its mean cosine distance
       1 - cos(x_i, x_j) to the cluster's members j != i.
    2. Clip each kept update to S = the median norm of all updates.
    3. Average the clipped updates (sample-size weighted) and add Gaussian
       noise of standard deviation ``noise`` * S (the paper's lambda).

    ``per_item = true`` (``fedarena.defenses.per_item``; PoisonFRS and PIECK run FLAME so
    on FedRec models): the three steps over all clients give the verdict, the suspicion
    (over the whole update when the model shares no parameter across items) and the shared
    parameters; each item's row is the three steps again among the clients that sent it
    (clustering its rows, clipping to their median norm, noise on that row only). An item
    nobody sent stays zero. One HDBSCAN per item with three or more senders: slow on large
    catalogs (seconds a round on MovieLens).

    >>> import torch
    >>> x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0], [-5.0, 9.0]])
    >>> Flame(noise=0.0).aggregate(x, torch.ones(4), RoundContext.for_updates(x)).accepted
    tensor([ True,  True,  True, False])
    """

    bounded_against = OUTLIER_PATTERNS
    tuning_grid: ClassVar[dict[str, tuple[float, ...]]] = {"noise": (0.0001, 0.001, 0.01)}

    def __init__(
        self, noise: float = 0.001, per_item: bool = False, item_rows: ItemRows | None = None
    ) -> None:
        self.noise = non_negative("noise", noise)
        self.per_item = checked_per_item(per_item, item_rows)
        self.item_rows = item_rows

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        rows = self.item_rows if self.per_item else None
        if rows is None:
            return self._flame(updates, weights, ctx.generator)
        judged = updates if not len(rows.dense) else updates[:, rows.dense]
        whole = self._flame(judged, weights, ctx.generator)
        update = torch.zeros(updates.shape[1], dtype=torch.float32)
        if len(rows.dense):
            update[torch.from_numpy(rows.dense)] = whole.update
        sent = sent_rows(updates.detach().cpu().numpy(), rows)
        if len(sent.touched):
            values = self._per_item(sent, weights, ctx.generator).reshape(-1)
            update[torch.from_numpy(sent.columns)] = values.float()
        return Aggregate(update, whole.accepted, whole.diagnostics, whole.suspicion)

    def _flame(self, updates: Tensor, weights: Tensor, generator: torch.Generator) -> Aggregate:
        """The three steps of the class docstring over the rows of ``updates``."""
        distances = (1 - cosine_similarities(updates)).clamp_(min=0).fill_diagonal_(0)
        kept = torch.from_numpy(majority_cluster(distances.numpy()))
        # The diagonal is zero, so a member's own column adds nothing; only the count excludes it.
        others = (kept.sum() - kept.long()).clamp_min(1)
        suspicion = distances[:, kept].sum(dim=1) / others
        norms = row_norms(updates)
        bound = median(norms)
        # The weighted mean of the kept, clipped updates as one combination of all rows.
        share = weights.double() * kept / (weights.double() * kept).sum()
        update = (share * clip_factors(norms, bound)).float() @ updates
        if self.noise > 0:
            sigma = self.noise * bound
            update = update + sigma * torch.randn(update.shape, generator=generator)
        diagnostics = {"clip_norm": bound, "kept": float(kept.sum())}
        return Aggregate(update, kept, diagnostics, suspicion)

    def _per_item(self, sent: SentRows, weights: Tensor, generator: torch.Generator) -> Tensor:
        """Each touched item's row, FLAME among its senders, (t, width); the noise of every
        row drawn at once, in item order."""
        noise = torch.randn(sent.block.shape[1:], generator=generator, dtype=torch.float64)
        out = torch.zeros(sent.block.shape[1:], dtype=torch.float64)
        for j in range(len(sent.touched)):
            who = np.flatnonzero(sent.senders[:, j])
            rows = torch.from_numpy(sent.block[who, j]).double()
            distances = (1 - cosine_similarities(rows)).clamp_(min=0).fill_diagonal_(0)
            kept = torch.from_numpy(majority_cluster(distances.numpy()))
            norms = row_norms(rows)
            bound = median(norms)
            share = weights[who].double() * kept / (weights[who].double() * kept).sum()
            out[j] = (share * clip_factors(norms, bound)) @ rows + self.noise * bound * noise[j]
        return out
