"""FedMF: matrix factorisation trained with BPR, the federated-recommendation papers' model.

Score of item ``i`` for a user with private vector ``u``::

    s(u, i) = u . E[i]

The item matrix ``E`` is all that is shared (Chai et al., IEEE Intelligent Systems 2020;
the model FedRecAttack, PipAttack and A-ra/A-hum attack); ``u`` never leaves the client.
It is trained with the BPR loss (Rendle et al., UAI 2009) on pairs of an interacted item
``a`` and a sampled one ``b``::

    l(a, b) = -log sigmoid(s(u, a) - s(u, b))

(``fedarena.training.objective``). A client's update is non-zero only on the rows of the
items in its pairs: the updates are sparse. No biases and no side features, as in the
papers: the shop's item tower (``fedarena.model.ItemTower``) is the model that has them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fedarena.stacked import Gradient, Scatter, gather_rows, scatter_rows


@dataclass(frozen=True)
class Linearisation:
    """What the evaluator's Newton fit of ``u*`` needs of a model, for each of n users' l
    items: ``linearise(users)``, the scores (n, l) and their Jacobian in the user's vector,
    (n, l, dim), and ``scores(users, rows)``, the scores of the users ``rows`` alone at
    ``users`` (len(rows), dim). A line search needs only the scores, of the users whose step
    is not settled yet: on a model that is not linear in ``u`` that is a fraction of the
    Jacobian's cost."""

    linearise: Callable[[Tensor], tuple[Tensor, Tensor]]
    scores: Callable[[Tensor, Tensor], Tensor]


def bilinear_linearisation(
    model: nn.Module, items: Tensor, partners: Tensor | None = None
) -> Linearisation:
    """For a model whose score is linear in ``u``, ``s(u, i) = u . (h * v_i) + o_i`` (FedMF
    and the item tower): the Jacobian ``h * v_i`` is the same for every ``u``, computed once.
    ``items`` (n, l) are each user's items; ``partners``, for pairs, the second item of each
    (the scores are then ``s(u, a) - s(u, b)``)."""
    vectors = model.item_vectors(items) * model.interaction
    offset = model.item_offsets(items)
    if partners is not None:
        vectors -= model.item_vectors(partners) * model.interaction
        offset -= model.item_offsets(partners)

    def scores(users: Tensor, rows: Tensor) -> Tensor:
        return torch.einsum("nld,nd->nl", vectors[rows], users) + offset[rows]

    def linearise(users: Tensor) -> tuple[Tensor, Tensor]:
        return torch.einsum("nld,nd->nl", vectors, users) + offset, vectors

    return Linearisation(linearise, scores)


@dataclass(frozen=True)
class FactorBatch:
    """k clients' minibatches through k stacked item matrices: each example's row in its
    client's item table (k, b), the rows' vectors (k, b, dim), ``u`` (k, dim), the scores."""

    item_rows: Tensor
    vectors: Tensor
    user: Tensor
    scores: Tensor


class MatrixFactorisation(nn.Module):
    """The shared item matrix of FedMF, with the same interface as the item tower."""

    PER_ITEM_PARAMETERS = ("item_embedding",)
    PER_ITEM_BUFFERS = ()
    LINEAR_IN_USER = True  # the score is linear in u: Newton needs no line search
    LOSS = "bpr"

    def __init__(self, n_items: int, dim: int = 16) -> None:
        super().__init__()
        self.item_embedding = nn.Parameter(torch.empty(n_items, dim))
        self.register_buffer("interaction", torch.ones(dim))  # the tower's h, fixed at 1
        self.dim = dim

    @property
    def n_items(self) -> int:
        return len(self.item_embedding)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the initial item matrix from ``generator``: N(0, (0.1 / sqrt(dim))^2), the
        tower's scale, so that both models start with scores near zero."""
        with torch.no_grad():
            self.item_embedding.normal_(0.0, 0.1 / math.sqrt(self.dim), generator=generator)

    def item_vectors(self, items: Tensor) -> Tensor:
        """``E[i]`` for a tensor of item indices, shape ``items.shape + (dim,)``."""
        return self.item_embedding[items]

    def item_offsets(self, items: Tensor) -> Tensor:
        """The user-independent part of the score: none in FedMF (zeros shaped as ``items``)."""
        return self.item_embedding.new_zeros(items.shape)

    def forward(self, user: Tensor, items: Tensor) -> Tensor:
        """Scores ``u . E[i]``, one user per row: ``user.shape == items.shape[:-1] + (dim,)``."""
        return (user.unsqueeze(-2) * self.item_vectors(items)).sum(-1)

    def score_all(self, user: Tensor) -> Tensor:
        """Scores of every item for each row of ``user`` (n, dim), shape (n, n_items)."""
        return user @ self.item_embedding.T

    def user_linearisation(self, items: Tensor, partners: Tensor | None = None) -> Linearisation:
        """The scores of ``items`` (minus ``partners``') as functions of ``u``."""
        return bilinear_linearisation(self, items, partners)

    def stacked_forward(
        self, params: dict[str, Tensor], user: Tensor, item_rows: Tensor, items: Tensor
    ) -> FactorBatch:
        """Scores of k clients' examples from their stacked item tables ``params`` (``items``,
        the catalog ids, carry nothing the model uses). Products are summed elementwise, not
        by batched matrix products, so a client's numbers do not depend on how many clients
        train beside it (``fedarena.model.stacked_forward`` says why)."""
        vectors = gather_rows(params["item_embedding"], item_rows)
        scores = (user.unsqueeze(-2) * vectors).sum(-1)
        return FactorBatch(item_rows, vectors, user, scores)

    def stacked_gradients(
        self,
        params: dict[str, Tensor],
        batch: FactorBatch,
        dscore: Tensor,
        scatter: Scatter = scatter_rows,
    ) -> tuple[dict[str, Gradient], Tensor]:
        """Exact gradients of ``sum_j dscore_j * s_j`` per client (the item matrix's summed
        by ``scatter``, or kept as its terms)::

        dE[i_j] += r_j u;  du = sum_j r_j E[i_j]
        """
        rows = dscore.unsqueeze(-1) * batch.user.unsqueeze(-2)
        grad = scatter(params["item_embedding"], batch.item_rows, rows)
        return {"item_embedding": grad}, self.user_gradient(params, batch, dscore)

    def user_gradient(
        self, params: dict[str, Tensor], batch: FactorBatch, dscore: Tensor
    ) -> Tensor:
        """``du = sum_j r_j E[i_j]``, shape (k, dim)."""
        return (dscore.unsqueeze(-1) * batch.vectors).sum(1)

    def example_gradient_norms(
        self, params: dict[str, Tensor], batch: FactorBatch, dscore: Tensor, with_user: bool
    ) -> Tensor:
        """The norm of each pair's own gradient, shape (k, b) for a batch of b pairs laid out
        as ``[a_1 .. a_b | b_1 .. b_b]`` (``fedarena.training.local.build_batches``): what
        DP-SGD clips, in closed form. A pair's gradient is ``r_a u`` on row ``a``, ``r_b u``
        on row ``b`` (summed when ``a = b``) and ``r_a E[a] + r_b E[b]`` on ``u``."""
        half = dscore.shape[-1] // 2
        ra, rb = dscore[..., :half], dscore[..., half:]
        same = batch.item_rows[..., :half] == batch.item_rows[..., half:]
        rows = torch.where(same, (ra + rb).square(), ra.square() + rb.square())
        squares = rows * batch.user.square().sum(-1, keepdim=True)
        if with_user:
            first, second = batch.vectors[..., :half, :], batch.vectors[..., half:, :]
            user = ra.unsqueeze(-1) * first + rb.unsqueeze(-1) * second
            squares = squares + user.square().sum(-1)
        return squares.sqrt()
