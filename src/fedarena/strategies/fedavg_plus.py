"""FedAvg+: FedAvg's sampling and local training with an adaptive or momentum server step."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from fedarena.strategies.base import STRATEGIES, sample_uniform
from fedarena.strategies.server_optimisers import (
    SERVER_OPTIMISERS,
    ServerOptimiser,
    State,
    hyperparameters,
)
from fedarena.training.local import LocalTraining


@STRATEGIES.register("fedavg_plus")
class FedAvgPlus:
    """FedOpt (Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 1).

    Clients train as in FedAvg; the server treats the defense's aggregate
    Delta_t as minus a pseudo-gradient and feeds it to a server optimiser:
    ``adam`` (FedAdam), ``yogi`` (FedYogi), ``adagrad`` (FedAdagrad), all per
    Algorithm 2, or ``momentum`` (FedAvgM). See
    ``fedarena.strategies.server_optimisers`` for the update rules.

    Options left unset take the optimiser's defaults; setting one that the
    chosen optimiser does not use (``beta2`` or ``tau`` with ``momentum``,
    ``beta2`` with ``adagrad``) is an error rather than silently ignored.
    The server state (moments) advances only on a finite step: a round whose
    step the federation discards leaves it as it was.

    >>> import torch
    >>> s = FedAvgPlus(server_opt="momentum", server_lr=1.0, beta1=0.5)
    >>> x = s.server_step(torch.zeros(1), torch.tensor([2.0]), round=0)  # m = 2
    >>> s.server_step(x, torch.tensor([2.0]), round=1)                   # m = 0.5 * 2 + 2
    tensor([5.])
    """

    def __init__(
        self,
        server_opt: str = "adam",
        server_lr: float | None = None,
        beta1: float | None = None,
        beta2: float | None = None,
        tau: float | None = None,
    ) -> None:
        if not isinstance(server_opt, str) or server_opt not in SERVER_OPTIMISERS:
            raise ValueError(
                f"server_opt must be one of {', '.join(SERVER_OPTIMISERS)}, got {server_opt!r}"
            )
        given = {
            k: v
            for k, v in {"lr": server_lr, "beta1": beta1, "beta2": beta2, "tau": tau}.items()
            if v is not None
        }
        takes = hyperparameters(server_opt)
        unused = [k for k in given if k not in takes]
        if unused:
            raise ValueError(
                f"{', '.join(unused)} is not used by server_opt={server_opt}, "
                f"which takes server_lr, {', '.join(takes[1:])}"
            )
        self.server_opt = server_opt
        self.optimiser: ServerOptimiser = SERVER_OPTIMISERS[server_opt](**given)
        self.server_lr = self.optimiser.lr
        self._state: State | None = None

    @property
    def server_gain(self) -> float:
        """eta for server momentum (linear in the round's aggregate); 1 for the adaptive rules,
        whose per-coordinate normalisation caps every step at about eta."""
        return self.server_lr if self.server_opt == "momentum" else 1.0

    def sample_clients(
        self, n_available: int, n_per_round: int, rng: np.random.Generator
    ) -> np.ndarray:
        return sample_uniform(n_available, n_per_round, rng)

    def configure_local(self, local: LocalTraining) -> LocalTraining:
        return local

    def server_step(self, global_params: Tensor, update: Tensor, round: int) -> Tensor:
        state = self._state if self._state is not None else self.optimiser.init(len(update))
        step, state = self.optimiser.update(update.float(), state)
        new_params = global_params + step
        if bool(new_params.isfinite().all()):
            self._state = state
        return new_params
