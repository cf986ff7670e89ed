"""FedNCF: neural collaborative filtering with a private user vector, the other FedRec model.

Score (logit) of item ``i`` for a user with private vector ``u``::

    x_0 = [u ; E[i]]
    x_l = relu(W_l x_{l-1} + c_l)        l = 1 .. L-1
    s(u, i) = W_L x_{L-1} + c_L          (W_L is 1 x width)

the MLP branch of NCF (He et al., WWW 2017) as the FedRec attack papers federate it
(Rong et al., IJCAI 2022, reference rdz98/PoisonFedDLRS; Perifanis and Efraimidis 2022):
the item matrix ``E`` and the layers are shared, ``u`` never leaves the client. The
reference's shape is ``[2 dim] + [dim, dim] + [1]`` (dim 8, layers [8, 8]); here the hidden
widths are ``dim`` too. It is trained with BCE on interacted items and sampled negatives
(the reference's ``num_neg = 4``), so a client's update is non-zero on the rows of the
items in its examples and on every layer: the item rows are sparse, the layers dense.

The trainers differentiate it in closed form (backpropagation written out, no autograd),
per example where DP-SGD needs it; the tests hold both to autograd.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fedarena.factorisation import Linearisation
from fedarena.stacked import Gradient, Scatter, gather_rows, scatter_rows

HIDDEN_LAYERS = 2
SCORE_CHUNK = 2**22  # (user, item) pairs scored at once by ``score_all``


@dataclass(frozen=True)
class NeuralBatch:
    """k clients' minibatches through k stacked models: each example's row in its client's
    item table (k, b), its item vector (k, b, dim), ``u`` (k, dim), every layer's input
    ``x_0 .. x_{L-1}`` ((k, b, width) each) and the scores (k, b)."""

    item_rows: Tensor
    vectors: Tensor
    user: Tensor
    inputs: tuple[Tensor, ...]
    scores: Tensor


class NeuralCF(nn.Module):
    """The shared item matrix and MLP of FedNCF, with the same interface as the item tower."""

    PER_ITEM_PARAMETERS = ("item_embedding",)
    PER_ITEM_BUFFERS = ()
    LINEAR_IN_USER = False  # the evaluator's Gauss-Newton fit backtracks
    LOSS = "bce"

    def __init__(self, n_items: int, dim: int = 16) -> None:
        super().__init__()
        self.item_embedding = nn.Parameter(torch.empty(n_items, dim))
        widths = [2 * dim] + [dim] * HIDDEN_LAYERS + [1]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(out, into)) for into, out in itertools.pairwise(widths)
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(out)) for out in widths[1:])
        self.dim = dim

    @property
    def n_items(self) -> int:
        return len(self.item_embedding)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the initial parameters from ``generator``: the item matrix as FedMF's, the
        layers Kaiming-uniform for ReLU with zero biases (the reference's initialisation)."""
        with torch.no_grad():
            self.item_embedding.normal_(0.0, 0.1 / math.sqrt(self.dim), generator=generator)
            for weight, bias in zip(self.weights, self.biases, strict=True):
                bound = math.sqrt(6.0 / weight.shape[1])
                weight.uniform_(-bound, bound, generator=generator)
                bias.zero_()

    def _layers(self) -> list[tuple[Tensor, Tensor]]:
        return list(zip(self.weights, self.biases, strict=True))

    def forward(self, user: Tensor, items: Tensor) -> Tensor:
        """Scores ``s(u, i)``, one user per row: ``user.shape == items.shape[:-1] + (dim,)``."""
        vectors = self.item_embedding[items]
        x = _first_input(user, vectors)
        return _mlp(x, self._layers())

    def score_all(self, user: Tensor) -> Tensor:
        """Scores of every item for each row of ``user`` (n, dim), shape (n, n_items). The
        first layer is split into its user and item halves, so that ``W_1 [u; E[i]]`` costs
        one product per user and one per item; the rest runs over (user, item) pairs, in
        chunks of users."""
        (first, first_bias), *rest = self._layers()
        user_part = user @ first[:, : self.dim].T + first_bias  # (n, width)
        item_part = self.item_embedding @ first[:, self.dim :].T  # (n_items, width)
        rows = max(1, SCORE_CHUNK // max(1, self.n_items))
        chunks = []
        for lo in range(0, len(user), rows):
            x = torch.relu(user_part[lo : lo + rows, None, :] + item_part)
            chunks.append(_mlp(x, rest))
        return torch.cat(chunks) if chunks else user.new_zeros(0, self.n_items)

    def user_linearisation(self, items: Tensor, partners: Tensor | None = None) -> Linearisation:
        """The scores of ``items`` (n, l) (minus ``partners``') at ``u`` and their Jacobian in
        ``u``, recomputed at every ``u`` (the score is not linear in it): Newton's method on
        it is Gauss-Newton. The Jacobian is ``W_1u^T`` times the backpropagated output."""
        layers = self._layers()

        def forward(users: Tensor, at: Tensor) -> tuple[list[Tensor], Tensor]:
            return _forward(_first_input(users, self.item_embedding[at]), layers)

        def jacobian(users: Tensor, at: Tensor) -> tuple[Tensor, Tensor]:
            inputs, scores = forward(users, at)
            delta = torch.ones_like(scores).unsqueeze(-1)
            for (weight, _), x_in in zip(layers[:0:-1], inputs[:0:-1], strict=True):
                delta = (delta @ weight) * (x_in > 0)
            return scores, delta @ layers[0][0][:, : self.dim]

        def scores(users: Tensor, rows: Tensor) -> Tensor:
            own = forward(users, items[rows])[1]
            return own if partners is None else own - forward(users, partners[rows])[1]

        def linearise(users: Tensor) -> tuple[Tensor, Tensor]:
            scores, jac = jacobian(users, items)
            if partners is not None:
                partner_scores, partner_jac = jacobian(users, partners)
                scores, jac = scores - partner_scores, jac - partner_jac
            return scores, jac

        return Linearisation(linearise, scores)

    def stacked_forward(
        self, params: dict[str, Tensor], user: Tensor, item_rows: Tensor, items: Tensor
    ) -> NeuralBatch:
        """Scores of k clients' examples from their stacked parameters ``params`` (a leading
        client axis on each; ``items``, the catalog ids, carry nothing the model uses).
        Products are summed elementwise, not by batched matrix products, so a client's numbers
        do not depend on how many clients train beside it (``fedarena.model.stacked_forward``
        says why)."""
        vectors = gather_rows(params["item_embedding"], item_rows)
        x = _first_input(user, vectors)
        layers = _stacked_layers(params)
        inputs = [x]
        for weight, bias in layers[:-1]:
            inputs.append(torch.relu(_apply(weight, inputs[-1]) + bias.unsqueeze(1)))
        weight, bias = layers[-1]
        scores = (_apply(weight, inputs[-1]) + bias.unsqueeze(1)).squeeze(-1)
        return NeuralBatch(item_rows, vectors, user, tuple(inputs), scores)

    def stacked_gradients(
        self,
        params: dict[str, Tensor],
        batch: NeuralBatch,
        dscore: Tensor,
        scatter: Scatter = scatter_rows,
    ) -> tuple[dict[str, Gradient], Tensor]:
        """Exact gradients of ``sum_j dscore_j * s_j`` per client, by backpropagation (the
        item rows' summed by ``scatter``, or kept as their terms)::

        delta_L = r_j;  dW_l += delta_l x_{l-1}^T;  dc_l += delta_l
        delta_{l-1} = (W_l^T delta_l) * [x_{l-1} > 0];  [du ; dE[i_j]] += W_1^T delta_1
        """
        deltas, dx = _backward(params, batch, dscore)
        grads: dict[str, Gradient] = {
            "item_embedding": scatter(params["item_embedding"], batch.item_rows, dx[1])
        }
        for index, (delta, x_in) in enumerate(zip(deltas, batch.inputs, strict=True)):
            grads[f"weights.{index}"] = (delta.unsqueeze(-1) * x_in.unsqueeze(-2)).sum(1)
            grads[f"biases.{index}"] = delta.sum(1)
        return {name: grads[name] for name in params}, dx[0].sum(1)

    def user_gradient(
        self, params: dict[str, Tensor], batch: NeuralBatch, dscore: Tensor
    ) -> Tensor:
        """The ``u`` part of ``stacked_gradients``, shape (k, dim)."""
        return _backward(params, batch, dscore)[1][0].sum(1)

    def example_gradient_norms(
        self, params: dict[str, Tensor], batch: NeuralBatch, dscore: Tensor, with_user: bool
    ) -> Tensor:
        """The norm of each example's own gradient (of ``dscore_j * s_j``) over every shared
        parameter, and ``u`` if ``with_user``, shape (k, b): what DP-SGD clips, in closed form.
        A layer's gradient is the outer product ``delta_l x_{l-1}^T``, of squared norm
        ``|delta_l|^2 |x_{l-1}|^2``; its bias adds ``|delta_l|^2``; the item row ``|dE|^2``."""
        deltas, (du, dv) = _backward(params, batch, dscore)
        squares = dv.square().sum(-1)
        for delta, x_in in zip(deltas, batch.inputs, strict=True):
            squares = squares + delta.square().sum(-1) * (1 + x_in.square().sum(-1))
        if with_user:
            squares = squares + du.square().sum(-1)
        return squares.sqrt()


def _first_input(user: Tensor, vectors: Tensor) -> Tensor:
    """``x_0 = [u ; E[i]]`` for item vectors (..., l, dim) and one user per row (..., dim)."""
    return torch.cat([user.unsqueeze(-2).expand_as(vectors), vectors], dim=-1)


def _forward(x: Tensor, layers: list[tuple[Tensor, Tensor]]) -> tuple[list[Tensor], Tensor]:
    """Every layer's input and the scores of ``x`` (..., 2 dim) through unstacked layers."""
    inputs = [x]
    for weight, bias in layers[:-1]:
        inputs.append(torch.relu(inputs[-1] @ weight.T + bias))
    weight, bias = layers[-1]
    return inputs, (inputs[-1] @ weight.T + bias).squeeze(-1)


def _mlp(x: Tensor, layers: list[tuple[Tensor, Tensor]]) -> Tensor:
    """The scores of layer inputs ``x`` through ``layers`` (hidden ReLU layers, then the
    linear output)."""
    return _forward(x, layers)[1]


def _stacked_layers(params: dict[str, Tensor]) -> list[tuple[Tensor, Tensor]]:
    """The stacked ``(W_l, c_l)`` of every layer, in order: (k, out, in) and (k, out)."""
    count = sum(1 for name in params if name.startswith("weights."))
    return [(params[f"weights.{i}"], params[f"biases.{i}"]) for i in range(count)]


def _apply(weight: Tensor, x: Tensor) -> Tensor:
    """``W_c x_cj`` for stacked weights (k, out, in) and inputs (k, b, in), summed
    elementwise: shape (k, b, out)."""
    return (x.unsqueeze(-2) * weight.unsqueeze(1)).sum(-1)


def _backward(
    params: dict[str, Tensor], batch: NeuralBatch, dscore: Tensor
) -> tuple[list[Tensor], tuple[Tensor, Tensor]]:
    """Every layer's per-example ``delta_l`` (k, b, out), first layer first, and the input's
    per-example gradient split into its ``u`` and item halves, (k, b, dim) each."""
    layers = _stacked_layers(params)
    delta = dscore.unsqueeze(-1)
    deltas = []
    for index in reversed(range(len(layers))):
        deltas.append(delta)
        delta = (delta.unsqueeze(-1) * layers[index][0].unsqueeze(1)).sum(-2)  # W_l^T delta_l
        if index > 0:
            delta = delta * (batch.inputs[index] > 0)
    dim = batch.user.shape[-1]
    return deltas[::-1], (delta[..., :dim], delta[..., dim:])
