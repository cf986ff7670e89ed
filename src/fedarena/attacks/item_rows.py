"""Fake users who send crafted item rows: what the FedRec model-poisoning attacks
(FedRecAttack, A-ra / A-hum) share.

Each attack enrols ``n_malicious`` fake users with a profile of ``kappa`` items (the
targets and popular fillers, ``sybil``'s promotion profile): they train on it as benign
clients do, which gives the honest update their bound is read from, and they report a
typical real user's count, as Sybils do. In the rounds they are sampled, each sends
rows ``-row_norm G_i / ||G_i||`` of its attack's gradient ``G`` for a chosen set of
items and nothing else. Updates in fedarena are parameter changes, not gradients, so
the bound is in parameter units: ``row_norm = "auto"`` is the largest norm of the rows
the fake users' own honest updates have, no larger than an honest row. An item's row is
its columns in the model's layout (``fedarena.model.ItemRows``: FedMF's and FedNCF's
embedding row); every other column (FedNCF's layers) is zero unless the attack crafts it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

from fedarena.attacks.base import AttackContext, send
from fedarena.attacks.sybil import Promotion, TypicalClaim, with_fake_shoppers
from fedarena.attacks.targets import PromotionTargets
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population
from fedarena.model import ItemRows, Recommender, SharedLayout
from fedarena.options import integer, is_number


class ItemRowAttack(TypicalClaim):
    """Base class: fake users sending bounded item rows; subclasses compute the rows."""

    acts_on = frozenset({"enrolment", "update"})
    knowledge = "own"
    goal = "targeted"
    models = ("mf",)

    def __init__(
        self,
        kappa: int,
        targets: list[int] | None,
        n_targets: int | None,
        row_norm: float | str,
        seed: int,
        catalog: Catalog | None,
        item_rows: ItemRows | None,
    ) -> None:
        n_given = len(targets) if isinstance(targets, list | tuple) else (n_targets or 1)
        self.kappa = integer("kappa", kappa, max(1, n_given))
        self.row_norm = row_norm_option(row_norm)
        self.targets = PromotionTargets(
            targets, n_targets, seed, None if catalog is None else len(catalog)
        )
        self.n_items = 0 if catalog is None else len(catalog)
        self.item_rows = item_rows

    @property
    def target_items(self) -> np.ndarray:
        return self.targets.items

    def enrol(
        self, population: Population, catalog: Catalog, n_malicious: int, rng: np.random.Generator
    ) -> tuple[Population, np.ndarray]:
        self.n_items = len(catalog)
        n_targets = len(self.targets.choose(population, len(catalog)))
        profiles = Promotion(self.targets, self.kappa - n_targets, "popular")
        logs = profiles.profiles(population, catalog, n_malicious, rng)
        self.note_typical(population)
        enrolled = with_fake_shoppers(population, catalog, logs)
        return enrolled, np.arange(len(population), len(enrolled))

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Tensor]:
        own = updates[malicious]
        if not len(own):
            return list(updates)
        crafted = self.craft_updates(ctx.global_params.double(), own, ctx.generator)
        return list(updates) if crafted is None else send(updates, malicious, crafted)

    def craft_updates(
        self, params: Tensor, own: Tensor, generator: torch.Generator
    ) -> Tensor | None:
        """The fake users' flat updates (m, d) from the global parameters (d,) and their
        honest updates ``own`` (m, d); ``None`` to send the honest ones. By default the
        item rows ``craft_rows`` makes and every other column zero."""
        columns = self.columns()
        rows = self.craft_rows(params[columns], own[:, columns], generator)
        if rows is None:
            return None
        crafted = torch.zeros(len(own), len(params))
        crafted[:, columns] = rows
        return crafted

    def craft_rows(self, items: Tensor, own: Tensor, generator: torch.Generator) -> Tensor | None:
        """The fake users' item rows (m, n_items, width) from the global item rows (n_items,
        width) and their honest updates' rows ``own`` (m, n_items, width); ``None`` to send
        the honest updates."""
        raise NotImplementedError

    def layout(self) -> ItemRows:
        """Where the model's item rows lie in the flat vector (the scenario gives them)."""
        if self.item_rows is None:
            raise ValueError("this attack crafts item rows: build it with the model's item_rows")
        return self.item_rows

    def columns(self) -> Tensor:
        """Each item's columns in the flat vector, shape (n_items, width)."""
        return torch.from_numpy(self.layout().index)

    def bound(self, own: Tensor) -> float:
        """The row norm the uploads have: ``row_norm``, or the largest honest row."""
        return row_bound(self.row_norm, own)


def bounded_rows(gradient: Tensor, rows: Tensor, row_norm: float) -> Tensor:
    """An update that moves each of ``rows`` by ``row_norm`` against its gradient row and
    leaves every other row (and every row whose gradient is zero) alone."""
    norms = gradient[rows].norm(dim=1)
    rows, norms = rows[norms > 0], norms[norms > 0]
    update = torch.zeros_like(gradient)
    update[rows] = -row_norm * gradient[rows] / norms[:, None]
    return update.float()


def row_norm_option(value: object) -> float | str:
    """The ``row_norm`` option: ``"auto"`` or a number > 0."""
    if value == "auto":
        return "auto"
    if not (isinstance(value, int | float) and is_number(value) and value > 0):
        raise ValueError(f"row_norm must be 'auto' or a number > 0, got {value!r}")
    return float(value)


def row_bound(row_norm: float | str, own: Tensor) -> float:
    """The norm of every crafted row: ``row_norm``, or for ``"auto"`` the largest row of
    the malicious clients' honest updates ``own`` (m, n_items, width)."""
    return honest_row_norm(own) if row_norm == "auto" else float(row_norm)


def honest_row_norm(own: Tensor) -> float:
    """The largest norm of the item rows of the fake users' honest updates
    (``own``: (m, n_items, dim)); 0 when they sent none."""
    norms = own.double().norm(dim=-1)
    sent = norms[norms > 0]
    return float(sent.max()) if len(sent) else 0.0


class ModelScores:
    """The scenario's model as a differentiable function of the flat shared parameters:
    ``scores(params, users, items)`` is ``r(u, i)`` for every user and item (FedMF's
    ``u . v_i``, FedNCF's MLP), through ``functional_call``, so an attack differentiates the
    model it attacks rather than a copy of its equation."""

    def __init__(self, model: Recommender | None, attack: str) -> None:
        self.model = model
        self.layout = None if model is None else SharedLayout.of(model)
        self.attack = attack

    def __call__(self, params: Tensor, users: Tensor, items: Tensor) -> Tensor:
        """Scores of shape (len(users), len(items)) under ``params`` (dim,)."""
        if self.model is None or self.layout is None:
            raise ValueError(
                f"{self.attack} scores with the model: build it with the scenario's model"
            )
        named = self.layout.unflatten(params)
        return functional_call(self.model, named, (users, items.expand(len(users), -1)))
