"""Model replacement (Bagdasaryan et al., "How To Backdoor Federated Learning", AISTATS 2020)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.attacks.targets import PromotionTargets
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population
from fedarena.options import flag, probability
from fedarena.training.local import LocalTraining


def replacement_scale(delta: Tensor, gamma: float, norm_bound: float | None = None) -> Tensor:
    """Per-row boost ``min(gamma, S / ||delta_i||)`` (just ``gamma`` without a bound ``S``)."""
    boost = torch.full((len(delta),), float(gamma), dtype=delta.dtype)
    if norm_bound is not None:
        norms = delta.norm(dim=1)
        boost = torch.where(norms > 0, torch.minimum(boost, norm_bound / norms), boost)
    return boost


def replacement_boost(ctx: AttackContext, n_attackers: int) -> float:
    """``n / (m g)``: the boost with which ``m`` coordinated attackers replace the model once."""
    return ctx.n_clients / (n_attackers * ctx.server_gain)


@ATTACKS.register("model_replacement")
class ModelReplacement(Attack):
    """Promote target items by replacing the global model (Bagdasaryan et al., AISTATS 2020).

    *Train toward the goal*: each round a malicious shopper adds the targets
    to its training log as purchases and trains honestly from the global model
    ``G``, keeping its real log so that its model ``L`` stays good at the main
    task (the paper's mix of backdoor and clean data).

    *Scale* (the paper's multi-attacker form): the ``m`` malicious clients of a
    round coordinate so that together they replace the model once. Each sends
    ``X_i - G = gamma (L_i - G)`` with ``gamma = n / (m g)`` (``"auto"``; ``n``
    clients per round, ``g`` the server step's gain on the aggregate,
    ``Strategy.server_gain``: eta for FedAvg and FedProx, 1 for the adaptive
    FedAvg+ rules, whose normalised step no boost lengthens). FedAvg's step
    ``G + eta/n sum_i (X_i - G)`` then lands on the attackers' mean model plus
    the benign updates, which nearly cancel once the model has converged. The
    boost assumes equal weights; ``report_examples`` changes the attackers'
    share of a weighted mean.

    *Constrain-and-scale* (``constrain_and_scale = S``): against a server that
    bounds update norms, scale only up to the bound, ``gamma_i = min(gamma,
    S / ||L_i - G||)`` (the paper's ``gamma = S / ||X - G||``). With ``stealth
    = true`` the attackers also train with the paper's anomaly term: they
    minimise ``alpha L_class + (1 - alpha) L_ano`` with ``L_ano = 1/2 ||w -
    G||^2`` and ``1 - alpha = anomaly_weight``, a proximal term of weight
    ``(1 - alpha) / alpha`` beside any the strategy sets, so that their
    updates are small and the scaling to ``S`` keeps more of the backdoor.

    >>> import torch
    >>> replacement_scale(torch.tensor([[3.0, 4.0]]), gamma=20.0, norm_bound=10.0)
    tensor([2.])
    """

    acts_on = frozenset({"data", "update"})
    knowledge = "own"
    goal = "targeted"

    def __init__(
        self,
        targets: list[int] | None = None,
        n_targets: int | None = None,
        gamma: float | str = "auto",
        constrain_and_scale: float | None = None,
        stealth: bool = False,
        anomaly_weight: float = 0.3,
        seed: int = 0,
        catalog: Catalog | None = None,
    ) -> None:
        if gamma != "auto" and (
            isinstance(gamma, bool) or not isinstance(gamma, int | float) or not gamma > 0
        ):
            raise ValueError(f"gamma must be 'auto' or a number > 0, got {gamma!r}")
        if constrain_and_scale is not None and (
            isinstance(constrain_and_scale, bool)
            or not isinstance(constrain_and_scale, int | float)
            or not constrain_and_scale > 0
        ):
            raise ValueError(
                f"constrain_and_scale must be a norm bound > 0, got {constrain_and_scale!r}"
            )
        self.stealth = flag("stealth", stealth)
        self.anomaly_weight = probability("anomaly_weight", anomaly_weight)
        if self.stealth and constrain_and_scale is None:
            raise ValueError("stealth=true needs the norm bound it evades: constrain_and_scale=S")
        self.gamma = gamma
        self.norm_bound = None if constrain_and_scale is None else float(constrain_and_scale)
        self.targets = PromotionTargets(
            targets, n_targets, seed, None if catalog is None else len(catalog)
        )

    @property
    def target_items(self) -> np.ndarray:
        return self.targets.items

    def enrol(
        self, population: Population, catalog: Catalog, n_malicious: int, rng: np.random.Generator
    ) -> tuple[Population, np.ndarray]:
        self.targets.choose(population, len(catalog))
        return super().enrol(population, catalog, n_malicious, rng)

    def poison(
        self, items: np.ndarray, labels: np.ndarray, n_items: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """The real log, without earlier interactions with the targets, plus them as purchases."""
        targets = self.targets.items
        keep = ~np.isin(items, targets)
        return (
            np.concatenate([items[keep], targets]),
            np.concatenate([labels[keep], np.ones(len(targets), dtype=labels.dtype)]),
        )

    def local_training(self, local: LocalTraining) -> LocalTraining:
        """The round's options, plus the anomaly term when ``stealth``."""
        if not self.stealth:
            return local
        weight = self.anomaly_weight / (1 - self.anomaly_weight)
        return replace(local, prox_mu=local.prox_mu + weight)

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        own = updates[malicious]
        if not len(own):
            return list(updates)
        gamma = replacement_boost(ctx, len(own)) if self.gamma == "auto" else self.gamma
        return send(
            updates, malicious, replacement_scale(own, gamma, self.norm_bound)[:, None] * own
        )
