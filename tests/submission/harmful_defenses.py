"""Defenses that harm the run without raising: each must fail a conformance check."""

from __future__ import annotations

import torch

from fedarena.defenses import Aggregate


class PoisonsTheModel:
    """Writes NaN into the global model it was shown."""

    def aggregate(self, updates, weights, ctx):
        ctx.global_params.fill_(float("nan"))
        return Aggregate(update=updates.mean(dim=0))


class SortsInPlace:
    """Sorts its input updates in place (a median written carelessly)."""

    def aggregate(self, updates, weights, ctx):
        updates.copy_(updates.sort(dim=0).values)
        return Aggregate(update=updates[len(updates) // 2].clone())


class Huge:
    """Finite, float32 and of the right shape, but 3e38 everywhere."""

    def aggregate(self, updates, weights, ctx):
        return Aggregate(update=torch.full((updates.shape[1],), 3e38))
