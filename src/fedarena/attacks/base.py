"""The attack contract: hooks at enrolment, on local data, on local training and on the
sent updates, under an explicit threat model.

An attack overrides only the hooks where it acts and declares what it knows:

- ``enrol``: choose (or create, for Sybils) the malicious shoppers;
- ``poison``: rewrite a malicious shopper's log before its examples are drawn;
- ``poison_examples``: rewrite its examples (log plus sampled negatives);
- ``poison_scored``: rewrite them knowing its scores of every item under the current
  model (``uses_scores``: FedAttack's hard sampling);
- ``local_training``: the options its own local training uses (an anomaly term);
- ``craft``: replace the malicious clients' updates after local training.

Threat model (docs/threat-model.md), the same in both engines:

- Malicious clients do not follow the protocol. A client-side defense (DP-SGD's
  clipping and noise) runs in benign clients only; a malicious client trains
  with the engine's plain trainer and the options ``local_training`` gives.
- The server weights an update by the sample count its client *reports*. A
  benign client reports its true count; every attack takes the shared option
  ``report_examples = k`` (an integer >= 1) that its clients report instead.
- Knowledge (``knowledge``): ``none`` crafts from nothing but the client's own
  update; ``own`` from the updates of all malicious clients of the round (the
  coalition pools them); ``public`` also from public side information drawn at
  enrolment: a share of the benign users' interactions (FedRecAttack's ``xi``) or
  the popularity levels of a share of the items (PipAttack's);
  ``omniscient`` also reads the benign updates of the round
  (``AttackContext.benign_updates``, ``None`` for every other attack).
  No attack reads the defense's state; an attack aimed at a defense takes the
  defense's public parameter as an option (model replacement's norm bound).

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
from fedarena.options import integer
from fedarena.registry import Registry
from fedarena.training.local import Examples, LocalTraining

WHERE = ("data", "update", "enrolment")
KNOWLEDGE = ("none", "own", "public", "omniscient")
GOALS = ("none", "targeted", "untargeted")
MAX_REPORTED_EXAMPLES = 2**31 - 1


@dataclass(frozen=True)
class AttackContext:
    """What a malicious client sees when crafting updates in one round.

    ``benign_updates`` is ``None`` unless the attack is omniscient.
    ``server_gain`` (the factor the server's step applies to the aggregate, see
    ``Strategy.server_gain``) and ``n_clients`` let model replacement choose its
    boost.
    """

    round: int
    global_params: Tensor
    n_clients: int
    server_gain: float
    generator: torch.Generator
    benign_updates: Tensor | None = None


class Attack:
    """Base class: an attack that does nothing; subclasses override their hooks."""

    acts_on: frozenset[str] = frozenset()
    knowledge: str = "none"
    goal: str = "none"
    report_examples: int | None = None
    models: tuple[str, ...] | None = None  # the models it applies to (None: every model)
    uses_scores: bool = False  # whether poison_scored is given the client's item scores

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

    def poison_examples(self, examples: Examples, rng: np.random.Generator) -> Examples:
        """A malicious shopper's (items, labels, weights) for a round (default: untouched)."""
        return examples

    def poison_scored(
        self, examples: Examples, scores: np.ndarray, local: LocalTraining
    ) -> Examples:
        """A malicious client's examples rewritten with ``scores``, its score of every item
        under the round's global model and its private embedding (only if ``uses_scores``)."""
        return examples

    def local_training(self, local: LocalTraining) -> LocalTraining:
        """The local-training options of a malicious client (default: the round's own)."""
        return local

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        """The updates actually sent, one per sampled client (default: the honest ones)."""
        return list(updates)

    @property
    def crafts_updates(self) -> bool:
        """Whether ``craft`` may change what clients send; if not, the engine skips it and
        keeps the updates on the columns training changed."""
        return type(self).craft is not Attack.craft

    def reported_examples(self, true_count: int) -> int:
        """The sample count a malicious client reports: ``report_examples`` or the truth."""
        return true_count if self.report_examples is None else self.report_examples


def send(updates: Tensor, malicious: Tensor, crafted: Tensor) -> list[Tensor]:
    """The sent list: honest rows as trained, malicious rows replaced by ``crafted``.

    ``crafted`` is one row per malicious client (in client order), shape
    (m, d), or a single (d,) row that every malicious client sends.
    """
    sent = updates.clone()
    sent[malicious] = crafted.to(sent.dtype)
    return list(sent)


def report_examples_option(value: object) -> int | None:
    """The shared ``report_examples`` option: None (report the truth) or a count in
    [1, 2^31 - 1] (a count a real client could send in an int32 field)."""
    if value is None:
        return None
    count = integer("report_examples", value, 1)
    if count > MAX_REPORTED_EXAMPLES:
        raise ValueError(f"report_examples must be <= {MAX_REPORTED_EXAMPLES}, got {count}")
    return count


ATTACKS: Registry[Attack] = Registry(
    "attack",
    "fedarena.attacks",
    "fedarena.attacks",
    shared={"report_examples": report_examples_option},
)
