"""Small attacks and a strategy with known behaviour, for the Flower engine's tests.

Scenarios name them as ``flower_fakes:ScaledFlip`` (this folder is on ``sys.path`` under
pytest). Attacks record what their ``craft`` saw in ``seen`` so that a test can
check the knowledge boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from fedarena.attacks import Attack, AttackContext
from fedarena.strategies.base import sample_uniform
from fedarena.training.local import LocalTraining


class Recording(Attack):
    seen: ClassVar[list[tuple[int, int, bool]]] = []

    def _record(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> None:
        type(self).seen.append((len(updates), int(malicious.sum()), ctx.benign_updates is not None))


class ScaledFlip(Recording):
    """Knowledge ``own``: every malicious client sends -2 times the coalition's mean update."""

    acts_on = frozenset({"update"})
    knowledge = "own"
    goal = "untargeted"
    seen: ClassVar[list[tuple[int, int, bool]]] = []

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        self._record(updates, malicious, ctx)
        sent = updates.clone()
        sent[malicious] = -2.0 * updates[malicious].mean(dim=0)
        return list(sent)


class AntiMean(Recording):
    """Knowledge ``omniscient``: malicious clients send minus the benign mean, plus noise."""

    acts_on = frozenset({"update"})
    knowledge = "omniscient"
    goal = "untargeted"
    seen: ClassVar[list[tuple[int, int, bool]]] = []

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        self._record(updates, malicious, ctx)
        assert ctx.benign_updates is not None
        noise = torch.randn(int(malicious.sum()), updates.shape[1], generator=ctx.generator)
        sent = updates.clone()
        sent[malicious] = -ctx.benign_updates.mean(dim=0) + 1e-3 * noise
        return list(sent)


class FlipLabels(Attack):
    """Data poisoning only: malicious shoppers train on inverted labels."""

    acts_on = frozenset({"data"})
    knowledge = "own"
    goal = "untargeted"

    def poison(self, items, labels, n_items: int, rng: np.random.Generator):
        return items, 1.0 - labels


class Junk(Recording):
    """Knowledge ``none``: each malicious client sends the malformed object ``kind`` names."""

    acts_on = frozenset({"update"})
    knowledge = "none"
    goal = "untargeted"
    seen: ClassVar[list[tuple[int, int, bool]]] = []
    KINDS: ClassVar[dict[str, Callable[[int], object]]] = {
        "nan": lambda d: torch.full((d,), float("nan")),
        "short": lambda d: torch.zeros(d - 1),
        "int": lambda d: torch.zeros(d, dtype=torch.int64),
        "text": lambda d: "not an update",
        "huge": lambda d: torch.full((d,), 1e38),
    }

    def __init__(self, kind: str = "nan") -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {', '.join(self.KINDS)}, got {kind!r}")
        self.kind = kind

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[object]:
        self._record(updates, malicious, ctx)
        make = self.KINDS[self.kind]
        return [
            make(updates.shape[1]) if bad else u for u, bad in zip(updates, malicious, strict=True)
        ]


class ProxHalfStep:
    """FedProx-style local options (mu = 0.5) and a server step of half the aggregate."""

    server_lr = 0.5
    server_gain = 0.5

    def sample_clients(self, n_available: int, n_per_round: int, rng: np.random.Generator):
        return sample_uniform(n_available, n_per_round, rng)

    def configure_local(self, local: LocalTraining) -> LocalTraining:
        return replace(local, prox_mu=0.5)

    def server_step(self, global_params: Tensor, update: Tensor, round: int) -> Tensor:
        return global_params + self.server_lr * update
