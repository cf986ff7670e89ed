"""The attack contract: hooks at enrolment, on local data and on the sent updates.

An attack overrides only the hooks where it acts and declares what it knows:

- ``enrol``: choose (or create, for Sybils) the malicious shoppers;
- ``poison``: rewrite a malicious shopper's training data before local training;
- ``craft``: replace the malicious clients' updates after local training, seeing
  the benign updates only when ``knowledge == "omniscient"``.

Updates returned by ``craft`` are sent as they are: any shape, any values. The
server must survive them (``fedarena.engine.guard``). ``send`` builds that list
from the honest updates and the malicious clients' crafted rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population
from fedarena.registry import Registry

WHERE = ("data", "update", "enrolment")
KNOWLEDGE = ("none", "own", "omniscient")
GOALS = ("none", "targeted", "untargeted")


@dataclass(frozen=True)
class AttackContext:
    """What a malicious client sees when crafting updates in one round.

    ``benign_updates`` is ``None`` unless the attack is omniscient.
    ``server_lr`` and ``n_clients`` let model replacement choose its boost.
    """

    round: int
    global_params: Tensor
    n_clients: int
    server_lr: float
    generator: torch.Generator
    benign_updates: Tensor | None = None


class Attack:
    """Base class: an attack that does nothing; subclasses override their hooks."""

    acts_on: frozenset[str] = frozenset()
    knowledge: str = "none"
    goal: str = "none"

    @property
    def target_items(self) -> np.ndarray:
        """Items a targeted attack promotes (for ER@10); empty when untargeted."""
        return np.empty(0, dtype=np.int64)

    def enrol(
        self, population: Population, catalog: Catalog, n_malicious: int, rng: np.random.Generator
    ) -> tuple[Population, np.ndarray]:
        """Return the federation (Sybils may be added) and the malicious shoppers' ids."""
        return population, np.sort(rng.choice(len(population), size=n_malicious, replace=False))

    def poison(
        self, items: np.ndarray, labels: np.ndarray, n_items: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """A malicious shopper's training data, rewritten (default: untouched)."""
        return items, labels

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        """The updates actually sent, one per sampled client (default: the honest ones)."""
        return list(updates)


def send(updates: Tensor, malicious: Tensor, crafted: Tensor) -> list[Tensor]:
    """The sent list: honest rows as trained, malicious rows replaced by ``crafted``.

    ``crafted`` is one row per malicious client (in client order), shape
    (m, d), or a single (d,) row that every malicious client sends.
    """
    sent = updates.clone()
    sent[malicious] = crafted.to(sent.dtype)
    return list(sent)


ATTACKS: Registry[Attack] = Registry("attack", "fedarena.attacks", "fedarena.attacks")
