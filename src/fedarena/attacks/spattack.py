"""Spattack (Zhang et al., "Rethinking Byzantine Robustness in Federated Recommendation from
Sparse Aggregation Perspective", AAAI 2025): item rows aimed at per-item aggregation."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext, send
from fedarena.attacks.item_rows import row_bound, row_norm_option
from fedarena.attacks.knowledge import check_knowledge, reference_updates
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population
from fedarena.model import ItemRows
from fedarena.seeds import Stream, stream

ITEM_SETS = ("all", "sampled")


@ATTACKS.register("spattack")
class Spattack(Attack):
    """Spattack: malicious clients who own the aggregation of the items they send.

    FedMF's server may aggregate each item row among the clients that sent it (sparse
    aggregation, ``per_item=true``): an item few benign clients train is decided by few
    rows, and malicious clients who all send it outnumber them there.

    *Items* (the paper's capability): ``items="all"`` (Spattack-D) sends a row for every
    item; ``"sampled"`` (Spattack-S) sends, for each malicious client, as many items as
    the largest honest update of the round has rows, drawn without replacement in
    proportion to their popularity (training interactions: public, as the FedRec attacks
    assume). ``a_i`` is the number of the round's malicious clients that send item ``i``.

    *Rows* (the paper's knowledge):

    - ``knowledge="omniscient"`` (Spattack-O): the round's benign updates ``B``; each
      malicious client sends ``-(1/a_i) sum_b B_b,i`` for its items, so that the sum of
      every row it covers is zero: a mean learns nothing there, and where the
      malicious rows outnumber the benign ones a median or Krum takes theirs.
    - ``knowledge="own"`` (Spattack-L): nothing of the benign clients; every malicious
      client sends the same fixed row ``row_norm z_i / ||z_i||`` for each of its items,
      ``z_i ~ N(0, I)`` drawn once for the run (the reference's ``N(0, 1)`` rows, the
      same in every round and client), so that the items it owns drift steadily.
      ``row_norm = "auto"``: the largest row of the malicious clients' own honest
      updates (fedarena's updates are parameter changes; the reference sends gradients).

    An item's row is all its parameters (``fedarena.model.ItemRows``: FedMF's embedding
    row; the tower's embedding row and bias); a malicious client sends its honest update
    on the parameters every item shares. Departures from the reference code: the
    malicious clients are real users taken over (fedarena's Byzantine threat model)
    rather than added fake users, and a sampled item set is drawn each round a client is
    sampled (attacks do not see client ids), not once.
    """

    acts_on = frozenset({"update"})
    goal = "untargeted"

    def __init__(
        self,
        knowledge: str = "own",
        items: str = "all",
        row_norm: float | str = "auto",
        seed: int = 0,
        item_rows: ItemRows | None = None,
    ) -> None:
        self.knowledge = check_knowledge(knowledge)
        if items not in ITEM_SETS:
            raise ValueError(f"items must be one of {', '.join(ITEM_SETS)}, got {items!r}")
        row_norm = row_norm_option(row_norm)
        if row_norm != "auto" and self.knowledge == "omniscient":
            raise ValueError("row_norm applies to knowledge=own only")
        self.items = items
        self.row_norm = row_norm
        self.seed = seed
        self.item_rows = item_rows
        self.popularity: Tensor | None = None
        self.fixed: Tensor | None = None  # the unit rows z_i / ||z_i||, drawn once

    def enrol(
        self, population: Population, catalog: Catalog, n_malicious: int, rng: np.random.Generator
    ) -> tuple[Population, np.ndarray]:
        self.popularity = torch.from_numpy(
            np.bincount(population.train_items, minlength=len(catalog)).astype(np.float64)
        )
        return super().enrol(population, catalog, n_malicious, rng)

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        n_malicious = int(malicious.sum())
        reference = reference_updates(self.knowledge, updates, malicious, ctx)
        if not n_malicious or not len(reference) or self.item_rows is None:
            return list(updates)
        index = torch.from_numpy(self.item_rows.index)
        honest = reference[:, index].double()  # (k, n_items, width)
        covered = self.item_sets(honest, n_malicious, ctx.generator).double()  # (m, n_items)
        if self.knowledge == "omniscient":
            rows = -honest.sum(dim=0) / covered.sum(dim=0).clamp(min=1)[:, None]
        else:
            rows = self.fixed_rows(honest.shape[1:]) * row_bound(self.row_norm, honest)
        crafted = updates[malicious].clone()
        crafted[:, index] = (covered[..., None] * rows).to(crafted.dtype)
        return send(updates, malicious, crafted)

    def item_sets(self, honest: Tensor, n_malicious: int, generator: torch.Generator) -> Tensor:
        """Which items each malicious client sends, (m, n_items) bool (the class docstring)."""
        n_items = honest.shape[1]
        if self.items == "all":
            return torch.ones(n_malicious, n_items, dtype=torch.bool)
        size = int((honest != 0).any(dim=-1).sum(dim=1).max())
        weights = self.popularity if self.popularity is not None else torch.ones(n_items)
        size = min(size, int((weights > 0).sum()))
        chosen = torch.zeros(n_malicious, n_items, dtype=torch.bool)
        for row in chosen:
            if size:
                row[torch.multinomial(weights, size, generator=generator)] = True
        return chosen

    def fixed_rows(self, shape: tuple[int, int]) -> Tensor:
        """The unit rows ``z_i / ||z_i||`` of Spattack-L, (n_items, width), the same for the
        whole run."""
        if self.fixed is None:
            z = torch.from_numpy(stream(self.seed, Stream.ATTACK_STATE).standard_normal(shape))
            self.fixed = z / z.norm(dim=1, keepdim=True)
        return self.fixed
