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

    >>> import torch
    >>> x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0], [-5.0, 9.0]])
    >>> Flame(noise=0.0).aggregate(x, torch.ones(4), RoundContext.for_updates(x)).accepted
    tensor([ True,  True,  True, False])
    """

    bounded_against = OUTLIER_PATTERNS
    tuning_grid: ClassVar[dict[str, tuple[float, ...]]] = {"noise": (0.0001, 0.001, 0.01)}

    def __init__(self, noise: float = 0.001) -> None:
        self.noise = non_negative("noise", noise)

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
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
            update = update + sigma * torch.randn(update.shape, generator=ctx.generator)
        diagnostics = {"clip_norm": bound, "kept": float(kept.sum())}
        return Aggregate(update, kept, diagnostics, suspicion)
