"""Centered clipping (Karimireddy, He & Jaggi, ICML 2021)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from fedarena.defenses.base import DEFENSES, OUTLIER_PATTERNS, Aggregate, Aggregator, RoundContext
from fedarena.defenses.geometry import clip_factors, dots, row_norms
from fedarena.options import integer, positive


@DEFENSES.register("centered_clipping")
class CenteredClipping(Aggregator):
    """Centered clipping, CC (Karimireddy, He & Jaggi, "Learning from History for
    Byzantine Robust Optimization", ICML 2021).

    Starting from the previous round's aggregate v (zero in the first round),
    repeat ``iterations`` times:

        v <- v + 1/n sum_i (x_i - v) min(1, tau / ||x_i - v||)

    Each client moves v by at most tau/n, whatever it sends. The state (v)
    lives in the defense object, one per run. No client is flagged.

    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [100.0, 0.0]])
    >>> CenteredClipping(tau=1.0).aggregate(x, torch.ones(3), RoundContext.for_updates(x)).update
    tensor([0.6667, 0.3333])
    """

    bounded_against = OUTLIER_PATTERNS
    tuning_grid: ClassVar[dict[str, tuple[float, ...]]] = {"tau": (1.0, 10.0, 100.0)}

    def __init__(self, tau: float = 10.0, iterations: int = 1) -> None:
        self.tau = positive("tau", tau)
        self.iterations = integer("iterations", iterations, 1)
        self._centre: Tensor | None = None

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        n = len(updates)
        centre = updates.new_zeros(updates.shape[1]) if self._centre is None else self._centre
        norms = row_norms(updates)
        clipped = 0.0
        for _ in range(self.iterations):
            # ||x_i - v||^2 = ||x_i||^2 - 2 x_i.v + ||v||^2: no (n, d) deviations in memory.
            centre_square = float(centre.double().norm()) ** 2
            squares = norms**2 - 2 * dots(updates, centre, norms) + centre_square
            factors = clip_factors(squares.clamp_min(0).sqrt(), self.tau)
            step = (factors / n).float() @ updates - float(factors.sum() / n) * centre
            centre = centre + step
            clipped = float((factors < 1).double().mean())
        self._centre = centre
        return Aggregate(centre, diagnostics={"clipped_fraction": clipped})
