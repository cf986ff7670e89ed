"""Inputs and adapters shared by the defense tests."""

from __future__ import annotations

import numpy as np
import torch

from fedarena.defenses import RoundContext


def context(updates: torch.Tensor, f: int = 0, seed: int = 0) -> RoundContext:
    return RoundContext.for_updates(updates, n_malicious=f, seed=seed)


def flower_results(updates: torch.Tensor, weights: torch.Tensor) -> list:
    """Flower's ``results``: one (list of layer arrays, number of examples) per client."""
    return [([row.numpy().copy()], int(w)) for row, w in zip(updates, weights, strict=True)]


def random_updates(n: int, d: int, seed: int) -> torch.Tensor:
    """Gaussian updates with unequal scales, so that distances and norms differ."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.rand(n, 1, generator=g) + 0.5
    return torch.randn(n, d, generator=g) * scales


def max_abs_diff(ours: torch.Tensor, theirs) -> float:
    return float(np.abs(ours.numpy() - np.asarray(theirs, dtype=np.float64)).max())
