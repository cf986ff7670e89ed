"""Components for the matrix tests, given by path (``tests/matrix/cell_plugins.py:Name``).

Defenses that misbehave the ways untrusted code can (raise, hang, exhaust
memory, die), one that cannot run by construction, and two attacks with a
declared goal so that attack success is defined.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
from torch import Tensor

from fedarena.attacks.base import Attack, AttackContext
from fedarena.defenses.base import Aggregate, RoundContext


class Mean:
    """Plain unweighted mean: a defense that works."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        return Aggregate(update=updates.mean(dim=0))


class Raises:
    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        raise RuntimeError("this defense always fails")


class Hangs:
    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        time.sleep(3600)
        raise AssertionError("unreachable")


class Hogs:
    """Reserves 1 GiB more on every step until the address-space limit stops it."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        hoard = []
        while True:
            hoard.append(np.empty(2**27))


class Dies:
    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class NeedsTen(Mean):
    """Refuses fewer than ten clients per round at construction, as Krum refuses n <= 2f + 2."""

    def __init__(self, n_clients: int) -> None:
        if n_clients < 10:
            raise ValueError(f"needs n >= 10 clients per round, got n={n_clients}")


class Promote(Attack):
    """A targeted attack that sends honest updates: its ER@10 is the clean exposure."""

    acts_on = frozenset({"update"})
    goal = "targeted"

    @property
    def target_items(self) -> np.ndarray:
        return np.array([0, 1])


class Scramble(Attack):
    """An untargeted attack: malicious clients send their update times -20."""

    acts_on = frozenset({"update"})
    knowledge = "own"
    goal = "untargeted"

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        return [-20 * u if bad else u for u, bad in zip(updates, malicious.tolist(), strict=True)]
