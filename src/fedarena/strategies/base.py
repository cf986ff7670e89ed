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
    global model. ``server_gain`` is the factor by which that step moves the
    model along ``Delta_t`` in the round it arrives: eta for a linear step
    (FedAvg, FedProx, and FedAvgM before its momentum carries on), 1 for a step
    normalised per coordinate (FedAdam, FedYogi, FedAdagrad: no boost makes it
    longer than about eta, so an attacker can at most aim ``Delta_t`` at its
    model). Model replacement reads it to choose its boost.
    """

    @property
    def server_gain(self) -> float: ...

    def sample_clients(
        self, n_available: int, n_per_round: int, rng: np.random.Generator
    ) -> np.ndarray: ...

    def configure_local(self, local: LocalTraining) -> LocalTraining: ...

    def server_step(self, global_params: Tensor, update: Tensor, round: int) -> Tensor: ...


def sample_uniform(n_available: int, n_per_round: int, rng: np.random.Generator) -> np.ndarray:
    """``n_per_round`` distinct clients, uniformly at random, in increasing id order."""
    return np.sort(rng.choice(n_available, size=n_per_round, replace=False))


STRATEGIES: Registry[Strategy] = Registry("strategy", "fedarena.strategies", "fedarena.strategies")
