"""The strategy contract: client sampling, local-training options and the server step."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor

from fedarena.registry import Registry
from fedarena.training.local import LocalTraining


@runtime_checkable
class Strategy(Protocol):
    """How the server runs rounds; the defense decides how updates are combined.

    ``server_step`` receives the defense's aggregate ``Delta_t`` (the combined
    change the clients propose, a (d,) float32 tensor) and returns the next
    global model. ``server_lr`` is the step size applied to ``Delta_t``; model
    replacement reads it to choose its boost.
    """

    server_lr: float

    def sample_clients(
        self, n_available: int, n_per_round: int, rng: np.random.Generator
    ) -> np.ndarray: ...

    def configure_local(self, local: LocalTraining) -> LocalTraining: ...

    def server_step(self, global_params: Tensor, update: Tensor, round: int) -> Tensor: ...


def sample_uniform(n_available: int, n_per_round: int, rng: np.random.Generator) -> np.ndarray:
    """``n_per_round`` distinct clients, uniformly at random, in increasing id order."""
    return np.sort(rng.choice(n_available, size=n_per_round, replace=False))


STRATEGIES: Registry[Strategy] = Registry("strategy", "fedarena.strategies", "fedarena.strategies")
