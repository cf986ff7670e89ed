"""The strategy contract: client sampling, local-training options and the server step."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor

from fedarena.engine.local import LocalTraining
from fedarena.registry import Registry


@runtime_checkable
class Strategy(Protocol):
    """How the server runs rounds; the defense decides how updates are combined."""

    def sample_clients(
        self, n_available: int, n_per_round: int, rng: np.random.Generator
    ) -> np.ndarray: ...

    def configure_local(self, local: LocalTraining) -> LocalTraining: ...

    def server_step(self, global_params: Tensor, update: Tensor, round: int) -> Tensor: ...


def sample_uniform(n_available: int, n_per_round: int, rng: np.random.Generator) -> np.ndarray:
    """``n_per_round`` distinct clients, uniformly at random, in increasing id order."""
    return np.sort(rng.choice(n_available, size=n_per_round, replace=False))


STRATEGIES: Registry[Strategy] = Registry("strategy", "fedarena.strategies", "fedarena.strategies")
