"""The shared core of min-max and min-sum (Shejwalkar & Houmansadr, NDSS 2021).

Both craft ``x = mu - gamma * p`` from the mean ``mu`` of the reference
updates and a perturbation ``p``, with the largest ``gamma`` a condition on
distances to the reference updates still allows. Perturbations (the paper's):

- ``unit_vec``: ``p = mu / ||mu||`` (inverse unit vector, ``-p`` opposes ``mu``),
- ``std``:      ``p = sigma``, the coordinate-wise standard deviation,
- ``sign``:     ``p = sign(mu)``.

``search_gamma`` is the paper's Algorithm 1 as its authors' code runs it:
start at ``gamma_init``, move by half a halving step up after a success and
down after a failure, stop when the last success is within ``tau``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from fedarena.attacks.base import Attack, AttackContext, send
from fedarena.attacks.knowledge import check_knowledge, reference_updates, spread
from fedarena.options import real

PERTURBATIONS = ("unit_vec", "std", "sign")


def perturbation(kind: str, reference: Tensor) -> Tensor:
    """The perturbation ``p`` of ``kind`` (see the module docstring) for these updates."""
    mean = reference.mean(dim=0)
    if kind == "unit_vec":
        norm = mean.norm()
        return mean / norm if norm > 0 else mean
    if kind == "std":
        return spread(reference)
    return torch.sign(mean)


def search_gamma(accepts: Callable[[float], bool], gamma_init: float, tau: float) -> float:
    """The largest ``gamma`` in ``[0, 2 gamma_init)`` that ``accepts``, to ``tau`` (Algorithm 1).

    Exact for a condition that holds on an interval ``[0, gamma*]``; returns
    0 when no tried ``gamma`` is accepted.
    """
    gamma, step, success = gamma_init, gamma_init, 0.0
    while abs(success - gamma) > tau:
        if accepts(gamma):
            success = gamma
            gamma += step / 2
        else:
            gamma -= step / 2
        step /= 2
    return success


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``||a_i - b_j||^2`` for all rows, in float64 so that large updates do not round away."""
    exact = "donot_use_mm_for_euclid_dist"
    return torch.cdist(a.double(), b.double(), compute_mode=exact).square()


class AgrAgnostic(Attack):
    """Send ``mu - gamma p`` with the largest ``gamma`` whose ``score`` stays within ``bound``.

    Subclasses define the condition; ``knowledge`` picks the reference
    updates (``omniscient``: the benign ones, the paper's full knowledge;
    ``own``: the malicious clients' honest ones, its partial knowledge).
    """

    acts_on = frozenset({"update"})
    goal = "untargeted"

    def __init__(
        self,
        dev_type: str = "unit_vec",
        gamma_init: float = 10.0,
        tau: float = 1e-5,
        knowledge: str = "omniscient",
    ) -> None:
        if dev_type not in PERTURBATIONS:
            raise ValueError(
                f"dev_type must be one of {', '.join(PERTURBATIONS)}, got {dev_type!r}"
            )
        gamma_init, tau = real("gamma_init", gamma_init), real("tau", tau)
        if not gamma_init > 0:
            raise ValueError(f"gamma_init must be > 0, got {gamma_init}")
        if not 0 < tau < gamma_init:
            raise ValueError(f"tau must be in (0, gamma_init), got {tau}")
        self.dev_type = dev_type
        self.gamma_init = gamma_init
        self.tau = tau
        self.knowledge = check_knowledge(knowledge)

    def bound(self, reference: Tensor) -> Tensor:
        """The largest score an honest update reaches."""
        raise NotImplementedError

    def score(self, x: Tensor, reference: Tensor) -> Tensor:
        """The score of a candidate ``x`` (shape (1, d)) against the reference updates."""
        raise NotImplementedError

    def crafted(self, reference: Tensor) -> Tensor:
        """The malicious update for these reference updates."""
        mean = reference.mean(dim=0)
        p = perturbation(self.dev_type, reference)
        bound = self.bound(reference)

        def accepts(gamma: float) -> bool:
            return bool(self.score((mean - gamma * p)[None, :], reference) <= bound)

        return mean - search_gamma(accepts, self.gamma_init, self.tau) * p

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        reference = reference_updates(self.knowledge, updates, malicious, ctx)
        if not malicious.any() or not len(reference):
            return list(updates)
        return send(updates, malicious, self.crafted(reference))
