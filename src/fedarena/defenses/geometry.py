"""Norms, pairwise distances and cosine similarities of a round's updates, overflow-safe.

Updates reach a defense finite, but their norms may be as large as float32
allows (about 3.4e38), whose squares overflow float32; results are therefore
returned in float64. Pairwise squared distances come from one Gram matrix,
``D_ij = G_ii + G_jj - 2 G_ij`` with ``G = X X^T``: a single matrix product,
in float32 when every squared norm fits comfortably, else in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Beyond this norm, squares and Gram entries could overflow float32 or drown in its rounding.
FLOAT32_GRAM_SAFE = 1e15


def row_norms(x: Tensor) -> Tensor:
    """(n,) L2 norms of the rows in float64, exact even where float32 squares overflow."""
    norms = torch.linalg.vector_norm(x, dim=1).double()
    overflow = ~torch.isfinite(norms)
    if overflow.any():
        norms[overflow] = torch.linalg.vector_norm(x[overflow].double(), dim=1)
    return norms


def gram(x: Tensor, norms: Tensor | None = None) -> Tensor:
    """``X X^T`` in float64, computed in float32 when the norms allow it."""
    norms = row_norms(x) if norms is None else norms
    if len(x) and float(norms.max()) > FLOAT32_GRAM_SAFE:
        wide = x.double()
        return wide @ wide.T
    return (x @ x.T).double()


def pairwise_sq_distances(x: Tensor) -> Tensor:
    """(n, n) float64 squared Euclidean distances, zero on the diagonal."""
    g = gram(x)
    g = (g + g.T) / 2  # exactly symmetric, so that equal distances tie exactly
    sq = g.diagonal()
    distances = (sq[:, None] + sq[None, :] - 2 * g).clamp_min_(0)
    return distances.fill_diagonal_(0)


def cosine_similarities(x: Tensor, norms: Tensor | None = None) -> Tensor:
    """(n, n) float64 cosine similarities, exactly symmetric; a zero row has similarity 0."""
    norms = row_norms(x) if norms is None else norms
    inverse = torch.where(norms > 0, 1 / norms, torch.zeros_like(norms))
    similarities = gram(x, norms) * inverse[:, None] * inverse[None, :]
    return ((similarities + similarities.T) / 2).clamp_(-1, 1)


def dots(x: Tensor, v: Tensor, norms: Tensor) -> Tensor:
    """(n,) float64 inner products x_i . v, in float32 when the norms allow it."""
    if len(x) and float(norms.max()) * float(v.norm()) > FLOAT32_GRAM_SAFE**2:
        return x.double() @ v.double()
    return (x @ v).double()


def median(values: Tensor) -> float:
    """The median, the mean of the two middle values for an even count (as ``numpy.median``)."""
    return float(values.double().quantile(0.5))


def scale_rows(x: Tensor, factors: Tensor) -> Tensor:
    """``x_i * factors_i`` with float64 factors applied in float32."""
    return x * factors.float()[:, None]


def clip_factors(norms: Tensor, max_norm: float | Tensor) -> Tensor:
    """``min(1, tau / ||x_i||)``: the scale that brings row i inside the ball of radius tau."""
    return torch.where(norms > max_norm, max_norm / norms, torch.ones_like(norms))
