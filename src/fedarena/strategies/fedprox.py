"""FedProx: FedAvg whose clients train with a proximal term."""

from __future__ import annotations

from dataclasses import replace

from fedarena.options import real
from fedarena.strategies.base import STRATEGIES
from fedarena.strategies.fedavg import FedAvg
from fedarena.training.local import LocalTraining


@STRATEGIES.register("fedprox")
class FedProx(FedAvg):
    """FedProx (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020).

    Client k minimises  h_k(w) = F_k(w) + mu/2 ||w - w_t||^2  from the global
    model w_t, which keeps heterogeneous clients from drifting far from it; the
    server step is FedAvg's. ``mu = 0`` is FedAvg exactly.

    >>> from fedarena.training.local import LocalTraining
    >>> FedProx(mu=0.1).configure_local(LocalTraining()).prox_mu
    0.1
    """

    def __init__(self, mu: float = 0.01, server_lr: float = 1.0) -> None:
        super().__init__(server_lr=server_lr)
        if not real("mu", mu) >= 0:
            raise ValueError(f"mu must be >= 0, got {mu}")
        self.mu = mu

    def configure_local(self, local: LocalTraining) -> LocalTraining:
        return replace(local, prox_mu=float(self.mu))
