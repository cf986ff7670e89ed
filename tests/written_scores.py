"""FedMF's and FedNCF's scores written out from their equations, for attack tests to hold an
attack's autograd through the module against."""

from __future__ import annotations

import torch

from fedarena.factorisation import MatrixFactorisation
from fedarena.model import Recommender, SharedLayout


def written_scores(
    model: Recommender, params: torch.Tensor, users: torch.Tensor, items: list[int]
) -> torch.Tensor:
    """Every user's scores of ``items``, shape (len(users), len(items)) (FedMF: ``u . v_i``;
    FedNCF: the MLP on ``[u; e_i]``), differentiable in ``params`` and ``users``."""
    named = SharedLayout.of(model).unflatten(params)
    vectors = named["item_embedding"][items]  # (|items|, dim)
    if isinstance(model, MatrixFactorisation):
        return users @ vectors.T
    x = torch.cat(
        [users[:, None].expand(-1, len(items), -1), vectors.expand(len(users), -1, -1)], -1
    )
    n_layers = len(model.weights)
    for layer in range(n_layers):
        x = x @ named[f"weights.{layer}"].T + named[f"biases.{layer}"]
        x = torch.relu(x) if layer < n_layers - 1 else x
    return x[..., 0]
