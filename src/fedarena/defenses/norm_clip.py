"""Norm clipping of each update (Sun et al., "Can You Really Backdoor FL?", 2019)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from fedarena.defenses.base import (
    DEFENSES,
    OUTLIER_PATTERNS,
    Preaggregated,
    PreAggregator,
    RoundContext,
)
from fedarena.defenses.geometry import clip_factors, median, row_norms, scale_rows
from fedarena.options import is_number

ADAPTIVE = "median"


@DEFENSES.register("norm_clip")
class NormClip(PreAggregator):
    """Per-update L2 norm bound (Sun, Kairouz, Suresh & McMahan, 2019).

    x_i <- x_i * min(1, tau / ||x_i||), with tau = ``max_norm``, or the median
    of the round's update norms when ``max_norm = median`` (adaptive). A
    pre-aggregator: ``norm_clip(max_norm=2) > krum``; alone it is followed by the
    weighted mean. Clipping rejects no one, so no client is flagged.

    >>> import torch
    >>> x = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    >>> NormClip(max_norm=1.0).preaggregate(x, torch.ones(2), RoundContext.for_updates(x)).updates
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """

    bounded_against = OUTLIER_PATTERNS
    # Update norms are about 6 (smoke shop) to 12 (default shop): the adaptive bound and
    # fixed bounds from well inside to about that range.
    tuning_grid: ClassVar[dict[str, tuple[float | str, ...]]] = {
        "max_norm": (ADAPTIVE, 2.0, 5.0, 10.0)
    }

    def __init__(self, max_norm: float | str = ADAPTIVE) -> None:
        if not (max_norm == ADAPTIVE or (is_number(max_norm) and max_norm > 0)):
            raise ValueError(f"max_norm must be > 0 or {ADAPTIVE}, got {max_norm!r}")
        self.max_norm = max_norm

    def transform(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Preaggregated:
        return self._clip(updates, weights, row_norms(updates))

    def unscreened(
        self, updates: Tensor, weights: Tensor, ctx: RoundContext
    ) -> Preaggregated | None:
        # A row's float64 norm is finite exactly when the row is.
        norms = row_norms(updates)
        return self._clip(updates, weights, norms) if torch.isfinite(norms).all() else None

    def _clip(self, updates: Tensor, weights: Tensor, norms: Tensor) -> Preaggregated:
        if self.max_norm == ADAPTIVE:
            bound = median(norms) if len(norms) else 0.0
        else:
            bound = float(self.max_norm)
        factors = clip_factors(norms, torch.tensor(bound, dtype=torch.float64))
        clipped = factors < 1
        diagnostics = {"clip_norm": bound, "clipped_fraction": float(clipped.double().mean())}
        out = scale_rows(updates, factors) if clipped.any() else updates
        return Preaggregated(out, weights, diagnostics=diagnostics)
