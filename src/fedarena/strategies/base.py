"""The strategy contract: client sampling, local-training options and the server step."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor

from fedarena.registry import Registry
from fedarena.seeds import Stream, stream
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


# How a round's clients are drawn: by the strategy (uniform), or every shopper once an epoch.
CLIENT_SAMPLINGS = ("uniform", "epochs")


def rounds_per_epoch(n_available: int, n_per_round: int) -> int:
    """Rounds an epoch of epoch sampling takes: ``ceil(n_available / n_per_round)``."""
    return -(-n_available // n_per_round)


def epoch_batch(n_available: int, n_per_round: int, round: int, seed: int) -> np.ndarray:
    """Round ``round``'s clients under epoch sampling, in increasing id order.

    Each epoch is a fresh permutation of all clients (``Stream.EPOCH``, seeded by the epoch)
    cut into consecutive batches of ``n_per_round``; the last batch of an epoch holds the
    rest, so every client trains exactly once an epoch (the FedRec papers' protocol:
    FedRecAttack's code shuffles the users every epoch and trains them in batches of 256).
    """
    epoch, batch = divmod(round, rounds_per_epoch(n_available, n_per_round))
    order = stream(seed, Stream.EPOCH, epoch).permutation(n_available)
    return np.sort(order[batch * n_per_round : (batch + 1) * n_per_round])


STRATEGIES: Registry[Strategy] = Registry("strategy", "fedarena.strategies", "fedarena.strategies")
