"""Client-side differential privacy: DP-SGD in every shopper's local training."""

from __future__ import annotations

import math

import numpy as np

from fedarena.defenses.base import DEFENSES, AccountingSetting
from fedarena.defenses.fedavg import FedAvg
from fedarena.defenses.privacy import epsilon_from_rdp, rdp_per_step
from fedarena.model import ItemTower, SharedLayout
from fedarena.options import flag, positive, probability
from fedarena.training.dp_sgd import DpSgdTrainer
from fedarena.training.local import Trainer


def local_steps(n_examples: int, batch_size: int, epochs: int) -> int:
    """A client's steps per round: ``epochs`` passes of ceil(n / b) batches.

    The engine never lets a batch straddle two epochs
    (``fedarena.training.local.build_batches``), so one example is at most once
    in a batch and each step's sensitivity is C.
    """
    return epochs * max(1, math.ceil(n_examples / batch_size))


@DEFENSES.register("dp_sgd")
class DpSgd(FedAvg):
    """DP-SGD (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016)
    in local training, example-level privacy of each shopper's data.

    Every local step clips each example's gradient to L2 norm C =
    ``max_grad_norm`` and adds N(0, (z C)^2) noise, z = ``noise_multiplier``, to
    the sum over the batch (``fedarena.training.dp_sgd``, checked against
    Opacus's per-sample gradients). The server side is the weighted mean; in a
    chain the last link aggregates instead: ``dp_sgd(noise_multiplier=1) > krum``.

    Privacy per shopper s, from Opacus's RDP analysis: sampling rate
    q_s = b / n_s over its n_s examples per round, E ceil(n_s / b) steps per
    round for each round it took part in (``local_steps``), noise multiplier
    z; its ``DpSgdAccountant`` reports the federation's ``epsilon`` (the
    largest over shoppers) and the median over the shoppers who took part, at
    ``delta``.
    """

    def __init__(
        self,
        noise_multiplier: float = 1.0,
        max_grad_norm: float = 1.0,
        delta: float = 1e-5,
        user_embedding: bool = True,
    ) -> None:
        self.noise_multiplier = positive("noise_multiplier", noise_multiplier)
        self.max_grad_norm = positive("max_grad_norm", max_grad_norm)
        self.delta = probability("delta", delta)
        self.user_embedding = flag("user_embedding", user_embedding)

    def client_trainer(
        self, tower: ItemTower, layout: SharedLayout, trainer: Trainer
    ) -> DpSgdTrainer:
        """Replace local training (whichever engine) by DP-SGD."""
        return DpSgdTrainer(
            tower, layout, self.noise_multiplier, self.max_grad_norm, self.user_embedding
        )

    def accountant(self, setting: AccountingSetting) -> DpSgdAccountant:
        """Per-shopper RDP accounting of this run (see the class docstring)."""
        return DpSgdAccountant(self.noise_multiplier, self.delta, setting)


class DpSgdAccountant:
    """Example-level privacy of each shopper under DP-SGD, after the rounds stepped so far.

    A shopper with n examples per round (its log plus its negatives) takes
    ``local_steps(n, b, E)`` Gaussian steps at sampling rate b / n in every round
    it is sampled; RDP adds up over steps, so the accountant keeps each shopper's
    number of rounds (as Opacus's ``RDPAccountant`` keeps its history) and
    converts at ``spent``: ``epsilon`` is the largest over shoppers,
    ``epsilon_median`` the median over those who took part.
    """

    def __init__(self, noise_multiplier: float, delta: float, setting: AccountingSetting) -> None:
        self.noise_multiplier = noise_multiplier
        self.delta = delta
        self.setting = setting
        self.rounds = np.zeros(len(setting.population), dtype=np.int64)

    def step(self, clients: np.ndarray) -> None:
        self.rounds[clients] += 1

    def spent(self) -> dict[str, float]:
        local, population = self.setting.local, self.setting.population
        epsilons = []
        for shopper in np.flatnonzero(self.rounds):
            items, labels = population.train_log(int(shopper))
            n = len(items) + local.negatives_per_positive * int((labels > 0.5).sum())
            if n == 0:  # nothing of its own was ever trained on
                epsilons.append(0.0)
                continue
            total = local_steps(n, local.batch_size, local.epochs) * int(self.rounds[shopper])
            per_step = rdp_per_step(self.noise_multiplier, local.batch_size / n)
            epsilons.append(epsilon_from_rdp(total * per_step, self.delta))
        return {
            "epsilon": max(epsilons, default=0.0),
            "epsilon_median": float(np.median(epsilons)) if epsilons else 0.0,
            "delta": self.delta,
        }
