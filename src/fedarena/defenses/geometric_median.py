"""Geometric median by smoothed Weiszfeld iterations: RFA (Pillutla et al., IEEE TSP 2022)."""

from __future__ import annotations

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
from fedarena.defenses.geometry import gram
from fedarena.options import integer, non_negative, positive


@DEFENSES.register("geometric_median")
class GeometricMedian(Aggregator):
    """Robust federated aggregation, RFA (Pillutla, Kakade & Harchaoui, IEEE TSP 2022).

    z = argmin_z sum_i a_i max(nu, ||z - x_i||) with a_i the sample-size weights,
    found by smoothed Weiszfeld iterations from the weighted mean:

        b_i = a_i / max(nu, ||z - x_i||),   z <- sum_i b_i x_i / sum_i b_i,

    stopping after ``iterations`` steps or when the objective improves by less
    than ``ftol`` relatively. Breakdown point 1/2. Every iterate is a
    combination z = mu + sum_j c_j (x_j - mu), so the iterations run on the
    coefficients c with the Gram matrix of the centred updates: one matrix
    product in all, whatever the number of iterations. No client is flagged.

    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [10.0]])
    >>> median = GeometricMedian().aggregate(x, torch.ones(3), RoundContext.for_updates(x))
    >>> round(float(median.update), 4)
    1.0
    """

    bounded_against = OUTLIER_PATTERNS

    def __init__(self, iterations: int = 100, nu: float = 1e-6, ftol: float = 1e-6) -> None:
        self.iterations = integer("iterations", iterations, 1)
        self.nu = positive("nu", nu)
        self.ftol = non_negative("ftol", ftol)

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        mean = weighted_mean(updates, weights, updates.shape[1])
        centred = updates - mean
        g = gram(centred)
        total = float(weights.sum())
        alpha = weights.double() / total if total > 0 else torch.full_like(g[0], 1 / len(g))
        coefficients = torch.zeros(len(updates), dtype=torch.float64)
        objective = float("inf")
        steps = 0
        while steps < self.iterations:
            steps += 1
            gc = g @ coefficients
            distances = (g.diagonal() - 2 * gc + coefficients @ gc).clamp_min(0).sqrt()
            previous, objective = objective, float(alpha @ distances)
            if abs(previous - objective) <= self.ftol * objective:
                break
            beta = alpha / distances.clamp_min(self.nu)
            coefficients = beta / beta.sum()
        update = mean + coefficients.float() @ centred
        return Aggregate(update, diagnostics={"iterations": float(steps), "objective": objective})
