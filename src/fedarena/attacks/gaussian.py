"""Gaussian noise: send a random vector instead of an update."""

from __future__ import annotations

import torch
from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.options import real


@ATTACKS.register("gaussian")
class GaussianNoise(Attack):
    """Gaussian attack (Blanchard et al., Krum, NeurIPS 2017; as in ByzFL, Blades, FLPoison).

    Each malicious client sends ``x_i ~ N(mean, std^2 I_d)``, drawn from the
    round's generator, independently of any data: the cheapest Byzantine
    behaviour, and a baseline every robust aggregator should shrug off.
    """

    acts_on = frozenset({"update"})
    knowledge = "none"
    goal = "untargeted"

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        mean, std = real("mean", mean), real("std", std)
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.mean = mean
        self.std = std

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        shape = (int(malicious.sum()), updates.shape[1])
        noise = torch.randn(shape, generator=ctx.generator, dtype=updates.dtype)
        return send(updates, malicious, self.mean + self.std * noise)
