"""The recommender: a shared item tower and scorer, and per-shopper embeddings kept local.

Score of item ``i`` for a shopper with private embedding ``u``::

    v_i   = E_item[i] + E_main[main(i)] + E_sub[sub(i)] + W x_i
    s(u,i) = h . (u * v_i) + b_i + w . x_i

``x_i`` are the item's standardised numeric features (``fedarena.data.features``).
Everything but ``u`` is shared (a generalised matrix factorisation with side
features, He et al. 2017); ``u`` never leaves the shopper, so it is never part
of an update. ``SharedLayout`` flattens the shared parameters into the float32
vector that clients send.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fedarena.data.catalog import Catalog
from fedarena.data.features import item_features


class ItemTower(nn.Module):
    """Shared parameters: item, category and feature embeddings and the scorer.

    ``PER_ITEM_PARAMETERS`` and ``PER_ITEM_BUFFERS`` have one row per item: a
    tower restricted to a subset of items (rows gathered, items renumbered)
    scores those items exactly as the full tower does.
    """

    PER_ITEM_PARAMETERS = ("item_embedding", "item_bias")
    PER_ITEM_BUFFERS = ("main_category", "sub_category", "features")

    def __init__(self, catalog: Catalog, dim: int = 16) -> None:
        super().__init__()
        features = torch.from_numpy(item_features(catalog).matrix())
        n_features = features.shape[1]
        self.item_embedding = nn.Parameter(torch.empty(len(catalog), dim))
        self.item_bias = nn.Parameter(torch.zeros(len(catalog)))
        self.main_embedding = nn.Parameter(torch.empty(catalog.n_main, dim))
        self.sub_embedding = nn.Parameter(torch.empty(catalog.n_sub, dim))
        self.feature_projection = nn.Parameter(torch.empty(n_features, dim))
        self.feature_weight = nn.Parameter(torch.zeros(n_features))
        self.interaction = nn.Parameter(torch.ones(dim))
        self.register_buffer("main_category", torch.from_numpy(catalog.main_category))
        self.register_buffer("sub_category", torch.from_numpy(catalog.sub_category))
        self.register_buffer("features", features)
        self.dim = dim

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the initial shared parameters from ``generator`` (deterministic)."""
        std = 1.0 / math.sqrt(self.dim)
        with torch.no_grad():
            for table in (self.item_embedding, self.main_embedding, self.sub_embedding):
                table.normal_(0.0, 0.1 * std, generator=generator)
            self.feature_projection.normal_(0.0, 0.1 * std, generator=generator)
            self.item_bias.zero_()
            self.feature_weight.zero_()
            self.interaction.fill_(1.0)

    def item_vectors(self, items: Tensor) -> Tensor:
        """``v_i`` for a tensor of item indices, shape ``items.shape + (dim,)``."""
        return (
            self.item_embedding[items]
            + self.main_embedding[self.main_category[items]]
            + self.sub_embedding[self.sub_category[items]]
            + self.features[items] @ self.feature_projection
        )

    def item_offsets(self, items: Tensor) -> Tensor:
        """The user-independent part of the score, ``b_i + w . x_i``."""
        return self.item_bias[items] + self.features[items] @ self.feature_weight

    def forward(self, user: Tensor, items: Tensor) -> Tensor:
        """Scores ``s(u, i)``, one user per row: ``user.shape == items.shape[:-1] + (dim,)``."""
        interaction = user.unsqueeze(-2) * self.item_vectors(items)
        return interaction @ self.interaction + self.item_offsets(items)

    def score_all(self, user: Tensor) -> Tensor:
        """Scores of every item for each row of ``user`` (n, dim), shape (n, n_items)."""
        every = torch.arange(len(self.item_bias))
        return (user * self.interaction) @ self.item_vectors(every).T + self.item_offsets(every)


def init_user_embeddings(n: int, dim: int, generator: torch.Generator) -> Tensor:
    """Initial private embeddings of ``n`` shoppers, shape (n, dim)."""
    return torch.randn(n, dim, generator=generator) * (0.1 / math.sqrt(dim))


@dataclass(frozen=True)
class SharedLayout:
    """Names, shapes and offsets of the shared parameters in the flat update vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, tower: ItemTower) -> SharedLayout:
        named = list(tower.named_parameters())
        return cls(tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def flatten(self, tower: ItemTower) -> Tensor:
        """The tower's shared parameters as one float32 vector of length ``dim``."""
        params = dict(tower.named_parameters())
        return torch.cat([params[n].detach().reshape(-1) for n in self.names]).float()

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Views of ``flat`` (shape ``(..., dim)``) as parameters of shape ``(..., *shape)``."""
        lead = flat.shape[:-1]
        return {
            name: chunk.reshape(*lead, *shape)
            for name, shape, chunk in zip(
                self.names, self.shapes, flat.split(self.sizes, dim=-1), strict=True
            )
        }

    def load(self, tower: ItemTower, flat: Tensor) -> None:
        """Copy a flat vector into the tower's parameters."""
        params = dict(tower.named_parameters())
        with torch.no_grad():
            for name, value in self.unflatten(flat).items():
                params[name].copy_(value)
