"""Client-side differential privacy: DP-SGD in every shopper's local training."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fedarena.defenses.base import DEFENSES, AccountingSetting
from fedarena.defenses.fedavg import FedAvg
from fedarena.defenses.privacy import delta_option, gaussian_epsilon, privacy_spent, run_delta
from fedarena.model import Recommender, SharedLayout
from fedarena.options import flag, positive
from fedarena.training.dp_sgd import DpSgdTrainer
from fedarena.training.local import Trainer


def epoch_batch_sizes(n_examples: int, batch_size: int) -> list[int]:
    """The sizes of one epoch's batches of a client's n examples: floor(n / b) of b, then n mod b.

    The engine shuffles the examples every epoch and cuts them into batches that
    never straddle two epochs (``fedarena.training.local.build_batches``), so
    each example is in exactly one batch per epoch.

    >>> epoch_batch_sizes(10, 4)
    [4, 4, 2]
    """
    full, rest = divmod(n_examples, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


@DEFENSES.register("dp_sgd")
class DpSgd(FedAvg):
    """DP-SGD (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016)
    in local training, example-level privacy of each shopper's data.

    Every local step clips each example's gradient to L2 norm C =
    ``max_grad_norm`` and adds N(0, (z C)^2) noise, z = ``noise_multiplier``, to
    the sum over the batch (``fedarena.training.dp_sgd``, checked against
    Opacus's per-sample gradients). The server side is the weighted mean; in a
    chain the last link aggregates instead: ``dp_sgd(noise_multiplier=1) > krum``.

    Privacy per shopper s, by RDP without amplification
    (``fedarena.defenses.privacy``): a conservative, valid bound. The client
    sampling and the batch shuffling are treated as public randomness, so s's
    privacy composes only over the r_s rounds it took part in. Each of the E
    epochs of a round cuts its n_s examples (its log plus its negatives) into
    batches of sizes k_j (``epoch_batch_sizes``), each example in exactly one;
    a batch's noised sum is a Gaussian mechanism of sensitivity C per example
    of s it holds, and the other batches do not read that example (adaptive
    composition). At order a:

        example level:   E r_s a / (2 z^2)
        shopper level:   E r_s a (sum_j k_j^2) / (2 z^2)   (all of s's examples change)

    An example is one row of a batch, a logged interaction or a drawn
    negative; whether a purchase happened also sets how many negatives are
    drawn, which only the shopper level covers. The shopper level is large
    (tens of thousands for the defaults): DP-SGD protects single interactions,
    not whole shoppers; shopper-level privacy is ``central_dp``'s job.
    ``DpSgdAccountant`` reports both levels at ``delta`` (``"auto"``: 1 /
    shoppers). The default z = 2.5 keeps the example level <= 10 on the default
    run (500 shoppers, 30 rounds of 50, E = 3; ``docs/defenses.md``).
    """

    # Privacy depends on z alone: no setting is less private than the default z = 2.5.
    tuning_grid: ClassVar[dict[str, tuple[float, ...]]] = {
        "noise_multiplier": (2.5, 4.0),
        "max_grad_norm": (0.5, 1.0, 2.0),
    }

    def __init__(
        self,
        noise_multiplier: float = 2.5,
        max_grad_norm: float = 1.0,
        delta: float | str = "auto",
        user_embedding: bool = True,
    ) -> None:
        self.noise_multiplier = positive("noise_multiplier", noise_multiplier)
        self.max_grad_norm = positive("max_grad_norm", max_grad_norm)
        self.delta = delta_option(delta)
        self.user_embedding = flag("user_embedding", user_embedding)

    def client_trainer(
        self, tower: Recommender, layout: SharedLayout, trainer: Trainer
    ) -> DpSgdTrainer:
        """Replace local training (whichever engine) by DP-SGD."""
        return DpSgdTrainer(
            tower, layout, self.noise_multiplier, self.max_grad_norm, self.user_embedding
        )

    def accountant(self, setting: AccountingSetting) -> DpSgdAccountant:
        """Per-shopper RDP accounting of this run (see the class docstring)."""
        return DpSgdAccountant(self.noise_multiplier, run_delta(self.delta, setting), setting)


class DpSgdAccountant:
    """Example- and shopper-level privacy of each shopper under DP-SGD, after the rounds
    stepped so far (the formulas of ``DpSgd``).

    A shopper with n examples per round (its log plus negatives_per_positive
    negatives per purchase, as ``fedarena.training.local.training_examples``
    draws them; for BPR, negatives_per_positive pairs per purchase) spends, per
    epoch of a round it took part in, RDP a / (2 z^2) per example and
    a sum_j k_j^2 / (2 z^2) as a whole. Under BPR one purchase is in
    negatives_per_positive pairs, which may share a batch: its own sensitivity
    per epoch is bounded by sum_j c_j^2 <= negatives_per_positive^2. The accountant keeps
    each shopper's number of rounds and converts at ``spent``: the largest and
    the median over the shoppers who took part, at each level.
    """

    def __init__(self, noise_multiplier: float, delta: float, setting: AccountingSetting) -> None:
        self.noise_multiplier = noise_multiplier
        self.delta = delta
        self.setting = setting
        self.rounds = np.zeros(len(setting.population), dtype=np.int64)

    def step(self, clients: np.ndarray) -> None:
        self.rounds[clients] += 1

    def examples(self, shopper: int) -> int:
        """The shopper's training examples (pairs, for BPR) per round."""
        items, labels = self.setting.population.train_log(shopper)
        drawn = self.setting.local.negatives_per_positive * int((labels > 0.5).sum())
        return drawn if self.setting.local.loss == "bpr" else len(items) + drawn

    def record_squares(self) -> int:
        """The largest sum over one epoch's batches of (examples of one record)^2: a record
        (a logged interaction) is one example, or under BPR in negatives_per_positive pairs."""
        local = self.setting.local
        return local.negatives_per_positive**2 if local.loss == "bpr" else 1

    def epsilons(self) -> tuple[np.ndarray, np.ndarray]:
        """Each shopper's epsilon so far at the shopper and at the example level (0 for one
        who never took part)."""
        local, z = self.setting.local, self.noise_multiplier
        by_shopper, by_example = np.zeros((2, len(self.rounds)))
        for shopper in np.flatnonzero(self.rounds):
            sizes = epoch_batch_sizes(self.examples(int(shopper)), local.batch_size)
            epochs = local.epochs * int(self.rounds[shopper])
            squares = sum(k * k for k in sizes)
            by_shopper[shopper] = gaussian_epsilon(z, epochs * squares, self.delta)
            record = min(self.record_squares(), squares)
            by_example[shopper] = gaussian_epsilon(z, epochs * record, self.delta)
        return by_shopper, by_example

    def spent(self) -> dict[str, float]:
        taken = self.rounds > 0
        by_shopper, by_example = self.epsilons()
        return privacy_spent(by_shopper[taken], by_example[taken], self.delta)
