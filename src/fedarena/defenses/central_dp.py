"""Server-side differential privacy: DP-FedAvg (McMahan, Ramage, Talwar & Zhang, ICLR 2018)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import (
    DEFENSES,
    OUTLIER_PATTERNS,
    AccountingSetting,
    Aggregate,
    Aggregator,
    RoundContext,
)
from fedarena.defenses.geometry import clip_factors, row_norms
from fedarena.defenses.privacy import rdp_epsilon
from fedarena.options import positive, probability


@DEFENSES.register("central_dp")
class CentralDP(Aggregator):
    """DP-FedAvg (McMahan et al., "Learning Differentially Private Recurrent
    Language Models", ICLR 2018), shopper-level privacy.

    Clip each update to L2 norm S = ``max_norm``, average with the fixed
    denominator n = clients per round (every shopper counts once, whatever its
    data size) and add Gaussian noise calibrated to that mean's sensitivity S/n:

        g = 1/n sum_i x_i min(1, S/||x_i||) + N(0, (z S / n)^2 I),  z = ``noise_multiplier``.

    Its accountant reports epsilon at ``delta`` for the whole run from Opacus's
    RDP accountant, taking sampling rate q = clients per round / shoppers and
    one step per round (it assumes Poisson sampling; the engine samples a fixed
    number without replacement, the usual approximation). Clipping rejects no
    one, so no client is flagged.
    """

    bounded_against = OUTLIER_PATTERNS

    def __init__(
        self,
        max_norm: float = 5.0,
        noise_multiplier: float = 0.1,
        delta: float = 1e-5,
        n_clients: int | None = None,
    ) -> None:
        self.max_norm = positive("max_norm", max_norm)
        self.noise_multiplier = positive("noise_multiplier", noise_multiplier)
        self.delta = probability("delta", delta)
        self.n_clients = n_clients

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        n = max(self.n_clients or 0, len(updates))
        factors = clip_factors(row_norms(updates), self.max_norm)
        mean = (factors / n).float() @ updates
        sigma = self.noise_multiplier * self.max_norm / n
        noise = sigma * torch.randn(mean.shape, generator=ctx.generator)
        diagnostics = {"clipped_fraction": float((factors < 1).double().mean())}
        return Aggregate(mean + noise, diagnostics=diagnostics)

    def accountant(self, setting: AccountingSetting) -> CentralDpAccountant:
        """Shopper-level RDP accounting of this run: one step per round at rate q."""
        rate = setting.clients_per_round / len(setting.population)
        return CentralDpAccountant(self.noise_multiplier, rate, self.delta)


class CentralDpAccountant:
    """Shopper-level epsilon of DP-FedAvg at ``delta`` after the rounds stepped so far."""

    def __init__(self, noise_multiplier: float, sample_rate: float, delta: float) -> None:
        self.noise_multiplier = noise_multiplier
        self.sample_rate = sample_rate
        self.delta = delta
        self.steps = 0

    def step(self, clients: np.ndarray) -> None:
        self.steps += 1

    def spent(self) -> dict[str, float]:
        epsilon = rdp_epsilon(self.noise_multiplier, self.sample_rate, self.steps, self.delta)
        return {"epsilon": epsilon, "delta": self.delta}
