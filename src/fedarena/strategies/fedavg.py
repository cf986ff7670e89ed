"""FedAvg's server step."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from fedarena.options import real
from fedarena.strategies.base import STRATEGIES, sample_uniform
from fedarena.training.local import LocalTraining


@STRATEGIES.register("fedavg")
class FedAvg:
    """Federated averaging (McMahan et al., AISTATS 2017).

    w_{t+1} = w_t + eta * Delta_t, with Delta_t the defense's aggregate of the
    clients' updates and eta the server learning rate (1 in the paper).

    >>> import torch
    >>> FedAvg(server_lr=0.5).server_step(torch.ones(2), torch.tensor([2.0, -4.0]), round=0)
    tensor([ 2., -1.])
    """

    def __init__(self, server_lr: float = 1.0) -> None:
        if not real("server_lr", server_lr) > 0:
            raise ValueError(f"server_lr must be > 0, got {server_lr}")
        self.server_lr = float(server_lr)

    @property
    def server_gain(self) -> float:
        """eta: the step is linear in the aggregate."""
        return self.server_lr

    def sample_clients(
        self, n_available: int, n_per_round: int, rng: np.random.Generator
    ) -> np.ndarray:
        return sample_uniform(n_available, n_per_round, rng)

    def configure_local(self, local: LocalTraining) -> LocalTraining:
        return local

    def server_step(self, global_params: Tensor, update: Tensor, round: int) -> Tensor:
        return global_params + self.server_lr * update
