"""UNION's client-side term (Yu et al., AAAI 2023): a contrastive loss that keeps the item
embeddings spread out, so that an attack that pulls them together stands out.

For every interacted item ``a`` in a step's batch (the anchor), the client draws one other
item it interacted with (the positive, ``p``) and ``negatives`` items it never interacted with
(``n_1 .. n_K``), uniformly. With ``e`` the item embeddings and ``T`` the ``temperature``::

    s_j = e_a . e_{c_j} / T     over the candidates c = (p, n_1, .., n_K)
    l_a = -log softmax(s)_0,    L = mean over the batch's anchors of l_a

and local training minimises the data loss plus ``weight * L``. The gradient, in closed form
for the vectorised trainer (the sequential one differentiates ``loss``), with
``r_j = (softmax(s)_j - [j = 0]) / (T m)`` over the m anchors::

    dL/de_a = sum_j r_j e_{c_j},     dL/de_{c_j} = r_j e_a

The reference (github.com/yflyl613/FedRec, client.py) pairs one shuffled contrastive batch
with each data batch; here the anchors are the data batch's own interacted items, the same
distribution without a second shuffle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fedarena.training.local import LocalBatches

NEGATIVE_DRAWS = 100  # rounds of redrawing a negative that hit an interacted item


@dataclass(frozen=True)
class ContrastiveSets:
    """Each step's anchors and candidates, one row per row of the batches, padded to the
    busiest step.

    ``items`` is (total steps, m, 2 + negatives): the anchor, the positive, the negatives;
    ``real`` (total steps, m) is False on padding (a step with fewer interacted items, or a
    client with fewer than two).
    """

    items: Tensor
    real: Tensor


@dataclass(frozen=True)
class ContrastiveTerm:
    """The term's options and its loss, gradient and draws (the module docstring)."""

    weight: float
    negatives: int
    temperature: float
    n_items: int

    def draw(self, batches: LocalBatches) -> ContrastiveSets:
        """Every client's anchors, positives and negatives, from its own seed. A step's anchors
        are its batch's distinct interacted items (label 1); a client's interacted items are
        those of all its steps."""
        anchors = [
            [np.unique(batches.items[r][batches.labels[r] > 0.5].numpy()) for r in batches.rows(c)]
            for c in range(batches.n_clients)
        ]
        busiest = max((len(a) for steps in anchors for a in steps), default=0)
        shape = (len(batches.items), busiest)
        items = np.zeros((*shape, 2 + self.negatives), dtype=np.int64)
        real = np.zeros(shape, dtype=bool)
        for c, steps in enumerate(anchors):
            interacted = np.unique(np.concatenate(steps)) if steps else np.empty(0, np.int64)
            if len(interacted) < 2:
                continue
            rng = np.random.default_rng([int(batches.seeds[c]), 1])
            for r, anchor in zip(batches.rows(c), steps, strict=True):
                m = len(anchor)
                items[r, :m, 0] = anchor
                items[r, :m, 1] = self._other(interacted, anchor, rng)
                items[r, :m, 2:] = self._negatives(interacted, (m, self.negatives), rng)
                real[r, :m] = True
        return ContrastiveSets(torch.from_numpy(items), torch.from_numpy(real))

    def loss(self, vectors: Tensor, real: Tensor) -> Tensor:
        """``weight * L`` per client from the sets' embeddings ``vectors`` (k, m, 2 + K, dim)
        and ``real`` (k, m); 0 for a client with no anchor."""
        scores = self._scores(vectors)
        terms = torch.logsumexp(scores, dim=-1) - scores[..., 0]
        count = real.sum(-1).clamp_min(1)
        return self.weight * (terms * real).sum(-1) / count

    def gradient(self, vectors: Tensor, real: Tensor) -> Tensor:
        """``d(weight * L)/d vectors``, shaped as ``vectors`` (the module docstring)."""
        scores = self._scores(vectors)
        slope = torch.softmax(scores, dim=-1)
        slope[..., 0] -= 1.0
        count = real.sum(-1, keepdim=True).clamp_min(1)
        slope = slope * (real / count).unsqueeze(-1) * (self.weight / self.temperature)
        anchor, candidates = vectors[..., 0, :], vectors[..., 1:, :]
        out = torch.empty_like(vectors)
        out[..., 0, :] = (slope.unsqueeze(-1) * candidates).sum(-2)
        out[..., 1:, :] = slope.unsqueeze(-1) * anchor.unsqueeze(-2)
        return out

    def _scores(self, vectors: Tensor) -> Tensor:
        anchor, candidates = vectors[..., 0, :], vectors[..., 1:, :]
        return (candidates * anchor.unsqueeze(-2)).sum(-1) / self.temperature

    @staticmethod
    def _other(interacted: np.ndarray, anchor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each anchor, one interacted item other than itself."""
        position = np.searchsorted(interacted, anchor)
        shift = rng.integers(1, len(interacted), size=len(anchor))
        return interacted[(position + shift) % len(interacted)]

    def _negatives(
        self, interacted: np.ndarray, shape: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        """Items drawn uniformly among those never interacted with (redrawn on a hit)."""
        drawn = rng.integers(0, self.n_items, size=shape)
        for _ in range(NEGATIVE_DRAWS):
            hit = np.isin(drawn, interacted)
            if not hit.any():
                break
            drawn[hit] = rng.integers(0, self.n_items, size=int(hit.sum()))
        return drawn
