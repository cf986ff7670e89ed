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

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from fedarena.data.catalog import Catalog
from fedarena.data.features import item_features
from fedarena.factorisation import Linearisation, MatrixFactorisation, bilinear_linearisation
from fedarena.ncf import NeuralCF
from fedarena.stacked import Gradient, Scatter, gather_rows, scatter_rows


class ItemTower(nn.Module):
    """Shared parameters: item, category and feature embeddings and the scorer.

    ``PER_ITEM_PARAMETERS`` and ``PER_ITEM_BUFFERS`` have one row per item: a
    tower restricted to a subset of items (rows gathered, items renumbered)
    scores those items exactly as the full tower does.
    """

    PER_ITEM_PARAMETERS = ("item_embedding", "item_bias")
    PER_ITEM_BUFFERS = ("main_category", "sub_category", "features")
    LINEAR_IN_USER = True  # the score is linear in u: Newton needs no line search
    LOSS = "bce"

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

    @property
    def n_items(self) -> int:
        return len(self.item_bias)

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
        """``v_i`` for a tensor of item indices, shape ``items.shape + (dim,)``; for more
        indices than items (evaluation), each item's vector is computed once and gathered."""
        if items.numel() > len(self.item_bias):
            return self.item_vectors(torch.arange(len(self.item_bias)))[items]
        return (
            self.item_embedding[items]
            + self.main_embedding[self.main_category[items]]
            + self.sub_embedding[self.sub_category[items]]
            + self.features[items] @ self.feature_projection
        )

    def item_offsets(self, items: Tensor) -> Tensor:
        """The user-independent part of the score, ``b_i + w . x_i`` (gathered as above)."""
        if items.numel() > len(self.item_bias):
            return self.item_offsets(torch.arange(len(self.item_bias)))[items]
        return self.item_bias[items] + self.features[items] @ self.feature_weight

    def forward(self, user: Tensor, items: Tensor) -> Tensor:
        """Scores ``s(u, i)``, one user per row: ``user.shape == items.shape[:-1] + (dim,)``."""
        interaction = user.unsqueeze(-2) * self.item_vectors(items)
        return interaction @ self.interaction + self.item_offsets(items)

    def score_all(self, user: Tensor) -> Tensor:
        """Scores of every item for each row of ``user`` (n, dim), shape (n, n_items)."""
        every = torch.arange(len(self.item_bias))
        return (user * self.interaction) @ self.item_vectors(every).T + self.item_offsets(every)

    def user_linearisation(self, items: Tensor, partners: Tensor | None = None) -> Linearisation:
        """The scores of ``items`` (minus ``partners``') as functions of ``u``."""
        return bilinear_linearisation(self, items, partners)

    def stacked_forward(
        self, params: dict[str, Tensor], user: Tensor, item_rows: Tensor, items: Tensor
    ) -> StackedBatch:
        """``stacked_forward`` of this tower (the trainers' interface to every model)."""
        return stacked_forward(params, user, item_rows, items, self)

    def stacked_gradients(
        self,
        params: dict[str, Tensor],
        batch: StackedBatch,
        dscore: Tensor,
        scatter: Scatter = scatter_rows,
    ) -> tuple[dict[str, Gradient], Tensor]:
        return stacked_gradients(params, batch, dscore, scatter)

    def user_gradient(
        self, params: dict[str, Tensor], batch: StackedBatch, dscore: Tensor
    ) -> Tensor:
        return user_gradient(params, batch, dscore)

    def example_gradient_norms(
        self, params: dict[str, Tensor], batch: StackedBatch, dscore: Tensor, with_user: bool
    ) -> Tensor:
        return example_gradient_norms(params, batch, dscore, with_user)


Recommender = ItemTower | MatrixFactorisation | NeuralCF
# The scenario's ``model`` field: the shop's item tower, FedMF (``fedarena.factorisation``) or
# FedNCF (``fedarena.ncf``).
MODELS: dict[str, type[Recommender]] = {
    "tower": ItemTower,
    "mf": MatrixFactorisation,
    "ncf": NeuralCF,
}


def build_model(name: str, catalog: Catalog, dim: int) -> Recommender:
    """The recommender ``name`` (a key of ``MODELS``) over ``catalog``, uninitialised
    (``reset_parameters`` draws it)."""
    if name in ("mf", "ncf"):
        return MODELS[name](len(catalog), dim=dim)
    return ItemTower(catalog, dim=dim)


def init_user_embeddings(n: int, dim: int, generator: torch.Generator) -> Tensor:
    """Initial private embeddings of ``n`` shoppers, shape (n, dim)."""
    return torch.randn(n, dim, generator=generator) * (0.1 / math.sqrt(dim))


@dataclass(frozen=True)
class SharedLayout:
    """Names, shapes and offsets of the shared parameters in the flat update vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    per_item: tuple[str, ...]  # the parameters with one row per item

    @classmethod
    def of(cls, tower: Recommender) -> SharedLayout:
        named = list(tower.named_parameters())
        return cls(
            tuple(n for n, _ in named),
            tuple(tuple(p.shape) for _, p in named),
            tower.PER_ITEM_PARAMETERS,
        )

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def flatten(self, tower: Recommender) -> Tensor:
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

    def load(self, tower: Recommender, flat: Tensor) -> None:
        """Copy a flat vector into the tower's parameters."""
        params = dict(tower.named_parameters())
        with torch.no_grad():
            for name, value in self.unflatten(flat).items():
                params[name].copy_(value)


def scores_under(tower: Recommender, layout: SharedLayout, flat: Tensor, users: Tensor) -> Tensor:
    """Every item's score for each row of ``users`` (n, dim) under the shared parameters
    ``flat``, shape (n, n_items); ``tower`` itself is left as it is."""
    model = copy.deepcopy(tower)
    layout.load(model, flat)
    with torch.no_grad():
        return model.score_all(users)


@dataclass(frozen=True, eq=False)
class ItemRows:
    """Where each item's row lies in the flat update vector, and what belongs to no item.

    Item ``i`` owns the columns ``index[i]`` (its embedding row and its bias, in layout
    order); ``dense`` are the columns of the parameters every item shares (categories,
    features, the scorer). A client "sends" item ``i`` when its update is non-zero there:
    an honest client's update is exactly zero on every item it did not train on.
    """

    index: np.ndarray  # (n_items, width) int64
    dense: np.ndarray  # (n_dense,) int64

    @classmethod
    def of(cls, layout: SharedLayout) -> ItemRows:
        offsets = np.cumsum([0, *layout.sizes])
        blocks = []
        for name, shape, start in zip(layout.names, layout.shapes, offsets, strict=False):
            if name in layout.per_item:
                width = math.prod(shape[1:])
                blocks.append(start + np.arange(shape[0] * width).reshape(shape[0], width))
        index = np.concatenate(blocks, axis=1)
        dense = np.setdiff1d(np.arange(layout.dim), index)
        return cls(index=index, dense=dense)

    @classmethod
    def blocks(cls, dim: int, width: int = 17) -> ItemRows:
        """Items of ``width`` consecutive columns from the start, the rest dense: item rows for
        vectors that come from no model, shaped as the default tower's (16 embedding columns
        and a bias); the submission checks hand them to a rule that takes ``item_rows``."""
        n_items = dim // width
        index = np.arange(n_items * width, dtype=np.int64).reshape(n_items, width)
        return cls(index=index, dense=np.arange(n_items * width, dim, dtype=np.int64))

    @property
    def width(self) -> int:
        return self.index.shape[1]


@dataclass(frozen=True)
class StackedBatch:
    """One minibatch of k clients through k stacked towers (a leading client axis on every
    shared parameter), with what the closed-form gradients reuse.

    ``item_rows`` index each client's item tables (its own rows, or the whole catalog),
    ``main``, ``sub`` and ``features`` are the examples' categories and features; all
    (k, b) but ``features`` (k, b, n_features).
    """

    item_rows: Tensor
    main: Tensor
    sub: Tensor
    features: Tensor
    vectors: Tensor  # v_i, (k, b, dim)
    user: Tensor  # u, (k, dim)
    scores: Tensor  # s(u, i), (k, b)


def stacked_forward(
    params: dict[str, Tensor], user: Tensor, item_rows: Tensor, items: Tensor, tower: ItemTower
) -> StackedBatch:
    """Scores of k clients' examples: ``params`` are the shared parameters with a client axis,
    ``item_rows`` the examples' rows in the per-item tables, ``items`` their catalog ids (for
    the categories and features, which are not trained). The same sums as
    ``ItemTower.forward``, with flat ``index_select`` gathers instead of advanced indexing,
    and products summed elementwise rather than by batched matrix products: BLAS picks its
    kernel, hence its rounding, by the number of clients, and a client's numbers must not
    depend on who trains beside it (the Flower engine trains clients one at a time)."""
    main, sub = tower.main_category[items], tower.sub_category[items]
    features = tower.features[items]
    vectors = (
        gather_rows(params["item_embedding"], item_rows)
        + gather_rows(params["main_embedding"], main)
        + gather_rows(params["sub_embedding"], sub)
        + (features.unsqueeze(-1) * params["feature_projection"].unsqueeze(1)).sum(-2)
    )
    interaction = user.unsqueeze(-2) * vectors
    offsets = gather_rows(params["item_bias"], item_rows) + (
        features * params["feature_weight"].unsqueeze(1)
    ).sum(-1)
    scores = (interaction * params["interaction"].unsqueeze(1)).sum(-1) + offsets
    return StackedBatch(item_rows, main, sub, features, vectors, user, scores)


def stacked_gradients(
    params: dict[str, Tensor],
    batch: StackedBatch,
    dscore: Tensor,
    scatter: Scatter = scatter_rows,
) -> tuple[dict[str, Gradient], Tensor]:
    """Exact gradients of ``sum_j dscore_j * s_j`` per client, for every shared parameter
    (shaped as ``params``; the gathered tables' summed by ``scatter``, or kept as their
    terms) and for ``u``: with ``dscore`` the loss's derivative in the scores, the
    gradients of the loss, in closed form (no autograd)::

        dv_j = r_j (h * u);  dE[i_j], dM[main_j], dS[sub_j] += dv_j;  dW += x_j dv_j^T
        db[i_j] += r_j;  dw += r_j x_j;  dh += r_j (u * v_j);  du += r_j (h * v_j)
    """
    h = params["interaction"]
    dvectors = dscore.unsqueeze(-1) * (h * batch.user).unsqueeze(-2)
    grads: dict[str, Gradient] = {
        "item_embedding": scatter(params["item_embedding"], batch.item_rows, dvectors),
        "item_bias": scatter(params["item_bias"], batch.item_rows, dscore),
        "main_embedding": scatter(params["main_embedding"], batch.main, dvectors),
        "sub_embedding": scatter(params["sub_embedding"], batch.sub, dvectors),
        "feature_projection": (batch.features.unsqueeze(-1) * dvectors.unsqueeze(-2)).sum(1),
        "feature_weight": (dscore.unsqueeze(-1) * batch.features).sum(1),
        "interaction": (dscore.unsqueeze(-1) * batch.user.unsqueeze(-2) * batch.vectors).sum(1),
    }
    return {name: grads[name] for name in params}, user_gradient(params, batch, dscore)


def user_gradient(params: dict[str, Tensor], batch: StackedBatch, dscore: Tensor) -> Tensor:
    """The ``u`` part of ``stacked_gradients``: ``du = sum_j r_j (h * v_j)``, shape (k, dim)."""
    return (dscore.unsqueeze(-1) * batch.vectors).sum(1) * params["interaction"]


def example_gradient_norms(
    params: dict[str, Tensor], batch: StackedBatch, dscore: Tensor, with_user: bool
) -> Tensor:
    """The norm of each example's own gradient (of ``dscore_j * s_j``) over every shared
    parameter, and ``u`` if ``with_user``, shape (k, b): what DP-SGD clips, in closed form.
    An example's gradient is ``r_j`` times a vector whose squared norm is::

        3 |h * u|^2 + |x|^2 |h * u|^2 + 1 + |x|^2 + |u * v|^2  (+ |h * v|^2 with u)

    (item, main and sub rows; W = x (h * u)^T; the bias; w; h; u).
    """
    h = params["interaction"]
    hu = (h * batch.user).square().sum(-1, keepdim=True)  # (k, 1)
    x2 = batch.features.square().sum(-1)
    squares = (3 + x2) * hu + 1 + x2 + (batch.user.unsqueeze(-2) * batch.vectors).square().sum(-1)
    if with_user:
        squares = squares + (h.unsqueeze(-2) * batch.vectors).square().sum(-1)
    return dscore.abs() * squares.sqrt()
