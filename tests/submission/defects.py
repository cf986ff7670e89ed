"""Defenses with one contract violation each, given by path to the conformance checks.

Each class's docstring starts with the check it breaks (``Conforming``,
``RandomSubset`` and ``NeedsOption`` break none); what else it does is the
plain weighted mean.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from fedarena.defenses import Aggregate, Aggregator, RoundContext


def _mean(updates: Tensor, weights: Tensor) -> Tensor:
    return (weights / weights.sum()) @ updates


class Conforming(Aggregator):
    """The weighted mean through the base class, which screens NaN and Inf: passes all."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=_mean(updates, weights))


class NoAggregate:
    """interface: it has no aggregate method."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Tensor:
        return _mean(updates, weights)


class ReturnsTensor(Aggregator):
    """interface: aggregate returns a bare tensor instead of an Aggregate."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Tensor:
        return _mean(updates, weights)

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        raise AssertionError("unused")


class Float64(Aggregator):
    """output shape and dtype: the update is float64."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=_mean(updates, weights).double())


class DropsLastCoordinate(Aggregator):
    """output shape and dtype: the update has d - 1 coordinates."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=_mean(updates, weights)[:-1])


class GlobalNoise(Aggregator):
    """determinism: noise from torch's global generator instead of ctx.generator."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        mean = _mean(updates, weights)
        return Aggregate(update=mean + 0.01 * torch.randn(mean.shape))


class TrustsTheFirst(Aggregator):
    """permutation invariance: returns the first client's update."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        accepted = torch.zeros(len(updates), dtype=torch.bool)
        accepted[0] = True
        return Aggregate(update=updates[0].clone(), accepted=accepted)


class RandomFirstHalf(Aggregator):
    """permutation invariance: averages a random one of the first two clients (a randomised
    rule whose distribution depends on the order)."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        pick = int(torch.randint(2, (1,), generator=ctx.generator))
        return Aggregate(update=updates[pick].clone())


class RandomSubset(Aggregator):
    """A randomised rule that conforms: the mean of a random half of the clients."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        chosen = torch.randperm(len(updates), generator=ctx.generator)[: len(updates) // 2]
        return Aggregate(update=updates[chosen].mean(dim=0))


class PlainMean:
    """NaN input handled: no screening, so one NaN update makes the mean NaN."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=_mean(updates, weights))


class AcceptsAll:
    """NaN input handled: a finite aggregate, but every client marked accepted."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        finite = torch.isfinite(updates).all(dim=1)
        mean = _mean(updates[finite], weights[finite])
        return Aggregate(update=mean, accepted=torch.ones(len(updates), dtype=torch.bool))


class SlowOnLargeRounds(Aggregator):
    """runtime: computes for half a second of CPU per call at d >= 1e5."""

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        if updates.shape[1] >= 100_000:
            end = time.process_time() + 0.5
            while time.process_time() < end:
                pass
        return Aggregate(update=_mean(updates, weights))


class NeedsOption(Aggregator):
    """Takes one option, ``scale``; conforms."""

    def __init__(self, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.scale = scale

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=self.scale * _mean(updates, weights))


class LateFailure(Aggregator):
    """Conforms on the checks' round 0, then misbehaves from round 1 on, as ``mode`` says:
    ``raise``, ``hang`` or ``hog`` (reserve memory until the limit stops it)."""

    def __init__(self, mode: str = "raise") -> None:
        if mode not in ("raise", "hang", "hog"):
            raise ValueError(f"mode must be raise, hang or hog, got {mode!r}")
        self.mode = mode

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        if ctx.round >= 1:
            if self.mode == "raise":
                raise RuntimeError("round 1 breaks this defense")
            if self.mode == "hang":
                time.sleep(3600)
            hoard = []
            while True:
                hoard.append(torch.empty(2**27, dtype=torch.float64).fill_(1.0))
        return Aggregate(update=_mean(updates, weights))
