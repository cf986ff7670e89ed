"""Train all sampled clients at once: ``vmap`` of ``functional_call`` over stacked parameters.

Each shared parameter is stacked into a tensor with one row per client; the
private embeddings are stacked likewise. ``vmap(functional_call(...))`` gives
every client's loss in one call, and since a client's loss depends only on its
own rows, one backward pass of their sum yields every client's gradient.

Two exact savings keep it fast:

- *Per-client item rows.* A client's loss only touches the items in its own
  examples, so the gradient (and hence every SGD or Adam step, whose state
  starts at zero each round) of every other row of the per-item parameters is
  exactly zero. Each client therefore trains a tower restricted to its own
  items (rows gathered, items renumbered) and its changes are scattered back.
  This also keeps memory per client independent of the catalog size.
- *Active prefix.* Clients are sorted by decreasing number of steps, so at
  step ``t`` the clients still training are a prefix, updated through views.

The optimiser steps are multi-tensor (``torch._foreach_*``) versions of
``torch.optim``'s SGD and Adam. Results equal the sequential reference
(``fedarena.training.sequential``) up to float rounding; the engine tests check it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.func import functional_call, vmap

from fedarena.model import ItemTower, SharedLayout
from fedarena.training.local import (
    LocalBatches,
    LocalResult,
    LocalTraining,
    proximal_term,
    weighted_bce,
)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class VectorisedTrainer:
    """Local training of every sampled client in lock-step."""

    def __init__(self, tower: ItemTower, layout: SharedLayout) -> None:
        self.tower = tower
        self.layout = layout
        self._losses = vmap(self._loss, in_dims=(0, 0, 0, 0, 0, 0, 0, None))

    def _loss(
        self,
        shared: dict[str, Tensor],
        buffers: dict[str, Tensor],
        user: Tensor,
        items: Tensor,
        labels: Tensor,
        weight: Tensor,
        anchor: dict[str, Tensor],
        mu: float,
    ) -> tuple[Tensor, Tensor]:
        scores = functional_call(self.tower, {**shared, **buffers}, (user, items))
        data_loss = weighted_bce(scores, labels, weight)
        if mu == 0:
            return data_loss, data_loss
        flat = torch.cat([shared[name].reshape(-1) for name in shared])
        flat_anchor = torch.cat([anchor[name].reshape(-1) for name in shared])
        return data_loss + proximal_term(flat, flat_anchor, mu), data_loss

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult:
        n = batches.n_clients
        steps = batches.active.sum(dim=1)
        order = torch.argsort(steps, descending=True, stable=True)
        items, labels, weight = (x[order] for x in (batches.items, batches.labels, batches.weight))
        rows, local_items = _client_rows(items)
        full = self.layout.unflatten(global_params)
        start = {
            name: full[name][rows]
            if name in ItemTower.PER_ITEM_PARAMETERS
            else value.expand(n, *value.shape)
            for name, value in full.items()
        }
        buffers = {name: getattr(self.tower, name)[rows] for name in ItemTower.PER_ITEM_BUFFERS}
        params = [value.clone() for value in start.values()] + [users[order].clone()]
        first_moments = [torch.zeros_like(p) for p in params]
        second_moments = [torch.zeros_like(p) for p in params]
        loss_sum = global_params.new_zeros(n)
        for t in range(batches.n_steps):
            k = int((steps > t).sum())
            leaves = [p[:k].detach().requires_grad_(True) for p in params]
            objective, data_loss = self._losses(
                dict(zip(start, leaves[:-1], strict=True)),
                {name: b[:k] for name, b in buffers.items()},
                leaves[-1],
                local_items[:k, t],
                labels[:k, t],
                weight[:k, t],
                {name: value[:k] for name, value in start.items()},
                config.prox_mu,
            )
            grads = list(torch.autograd.grad(objective.sum(), leaves))
            local_step(params, grads, first_moments, second_moments, k, t + 1, config)
            loss_sum[:k] += data_loss.detach()
        trained = dict(zip(start, params[:-1], strict=True))
        shared = []
        for name, value in full.items():
            if name in ItemTower.PER_ITEM_PARAMETERS:
                delta = (trained[name] - start[name]).reshape(n, rows.shape[1], -1)
                table = value.reshape(len(value), -1).expand(n, -1, -1).clone()
                table.scatter_add_(1, rows[:, :, None].expand_as(delta), delta)
                shared.append(table.reshape(n, -1))
            else:
                shared.append(trained[name].reshape(n, -1))
        inverse = torch.argsort(order)
        return LocalResult(
            shared=torch.cat(shared, dim=1)[inverse],
            users=params[-1][inverse],
            loss=loss_sum[inverse] / steps.clamp_min(1).to(loss_sum.dtype),
        )


def _client_rows(items: Tensor) -> tuple[Tensor, Tensor]:
    """Each client's sorted distinct items (padded by repeating the last) and its
    examples' items renumbered as positions in that list."""
    flat = items.reshape(len(items), -1)
    ordered = flat.sort(dim=1).values
    distinct = torch.ones_like(ordered, dtype=torch.bool)
    distinct[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    width = int(distinct.sum(dim=1).max())
    rows = torch.empty(len(items), width, dtype=items.dtype)
    for c in range(len(items)):
        unique = ordered[c][distinct[c]]
        rows[c, : len(unique)] = unique
        rows[c, len(unique) :] = unique[-1]
    local = torch.searchsorted(rows, flat).reshape(items.shape)
    return rows, local


def local_step(
    params: list[Tensor],
    grads: list[Tensor],
    first: list[Tensor],
    second: list[Tensor],
    k: int,
    step: int,
    config: LocalTraining,
) -> None:
    """One SGD or Adam step of the first ``k`` clients (rows) of every parameter, in place."""
    active = [p[:k] for p in params]
    if config.optimizer == "sgd":
        torch._foreach_add_(active, grads, alpha=-config.lr)
    else:
        adam_step(active, grads, [m[:k] for m in first], [v[:k] for v in second], step, config.lr)


def adam_step(
    params: list[Tensor],
    grads: list[Tensor],
    first: list[Tensor],
    second: list[Tensor],
    step: int,
    lr: float,
) -> None:
    """In-place Adam (Kingma & Ba 2015) exactly as ``torch.optim.Adam`` computes it.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    b1, b2 = ADAM_BETAS
    torch._foreach_lerp_(first, grads, 1 - b1)
    torch._foreach_mul_(second, b2)
    torch._foreach_addcmul_(second, grads, grads, value=1 - b2)
    denominator = torch._foreach_sqrt(second)
    torch._foreach_div_(denominator, math.sqrt(1 - b2**step))
    torch._foreach_add_(denominator, ADAM_EPS)
    torch._foreach_addcdiv_(params, first, denominator, value=-lr / (1 - b1**step))
