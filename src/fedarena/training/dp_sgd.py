"""DP-SGD local training of every sampled client at once (Abadi et al., CCS 2016).

Each step of each client::

    g_j  = grad of l_j = w_j BCE(s(u, i_j), y_j)              per example j
    g~_j = g_j min(1, C / (||g_j|| + 1e-6))                   (Opacus's clipping)
    g    = (sum_j g~_j + N(0, sigma^2 C^2 I)) / b              b = batch size
    then an SGD or Adam step on g.

Per-example gradients come from ``vmap`` over examples inside ``vmap`` over
clients. An example touches one row of each per-item or per-category table
(its item's embedding and bias, its category embeddings), so it is
differentiated with respect to those rows only, gathered beforehand: the norm
is the same as that of the full (one-hot) gradient, and the clipped rows are
scattered back into full-size tables. The noise covers every shared parameter,
rows of items the client never saw included, which is why this trainer keeps
each client's full shared vector instead of the plain engine's per-client
item rows.

``user_embedding`` decides whether the private embedding u is inside the
clipped, noised gradient (the DP guarantee covers all training) or trained by
the plain weighted-mean gradient (better utility; the sent updates then depend
on u, which saw the data without noise, so the accountant's epsilon is no
longer a formal bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import functional_call, grad, vmap

from fedarena.model import ItemTower, SharedLayout
from fedarena.training.local import LocalBatches, LocalResult, LocalTraining
from fedarena.training.vectorised import local_step

# Tables an example reads one row of, and the per-item buffer that picks the row
# (None: the item id itself).
ROW_TABLES: dict[str, str | None] = {
    "item_embedding": None,
    "item_bias": None,
    "main_embedding": "main_category",
    "sub_embedding": "sub_category",
}
STABILISER = 1e-6  # as Opacus's clip factor C / (||g|| + 1e-6)


@dataclass(frozen=True)
class ClippedGradients:
    """Per client: the sum of clipped per-example gradients of the shared parameters, the
    user-embedding gradient sum (clipped with them or not), and the weighted data loss."""

    shared: dict[str, Tensor]
    user: Tensor
    loss: Tensor
    clipped_fraction: float


class PerExampleClipping:
    """Clipped per-example gradient sums of the recommender's loss, for k clients at once."""

    def __init__(self, tower: ItemTower, max_grad_norm: float, user_embedding: bool) -> None:
        self.tower = tower
        self.max_grad_norm = max_grad_norm
        self.user_embedding = user_embedding
        per_example = grad(self._example_loss, argnums=(0, 1, 2), has_aux=True)
        self._gradients = vmap(vmap(per_example, in_dims=(0, None, None, 0, 0, 0)))

    def _example_loss(
        self,
        rows: dict[str, Tensor],
        dense: dict[str, Tensor],
        user: Tensor,
        features: Tensor,
        label: Tensor,
        weight: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """w BCE(s(u, i), y) of one example, with the tower restricted to its single item."""
        buffers = {name: torch.zeros(1, dtype=torch.long) for name in ROW_TABLES.values() if name}
        buffers["features"] = features[None]
        params = {name: value[None] for name, value in rows.items()} | dense
        first_row = torch.zeros(1, dtype=torch.long)
        score = functional_call(self.tower, params | buffers, (user, first_row))
        loss = weight * torch.nn.functional.binary_cross_entropy_with_logits(score[0], label)
        return loss, loss

    def row_indices(self, items: Tensor) -> dict[str, Tensor]:
        """For each row table, the row each example reads (same shape as ``items``)."""
        return {
            name: items if by is None else getattr(self.tower, by)[items]
            for name, by in ROW_TABLES.items()
        }

    def __call__(
        self,
        shared: dict[str, Tensor],
        user: Tensor,
        items: Tensor,
        labels: Tensor,
        weight: Tensor,
    ) -> ClippedGradients:
        """``shared``: each parameter with a leading client axis k; ``items`` etc.: (k, b)."""
        k = len(items)
        clients = torch.arange(k)[:, None]
        index = self.row_indices(items)
        rows = {name: shared[name][clients, index[name]] for name in ROW_TABLES}
        dense = {name: value for name, value in shared.items() if name not in ROW_TABLES}
        (row_grads, dense_grads, user_grads), losses = self._gradients(
            rows, dense, user, self.tower.features[items], labels, weight
        )
        clipped_parts = [*row_grads.values(), *dense_grads.values()]
        if self.user_embedding:
            clipped_parts.append(user_grads)
        squares = sum(g.reshape(k, items.shape[1], -1).pow(2).sum(-1) for g in clipped_parts)
        norms = squares.sqrt()
        factor = (self.max_grad_norm / (norms + STABILISER)).clamp(max=1.0)
        sums = {}
        for name, g in dense_grads.items():
            sums[name] = torch.einsum("kb,kb...->k...", factor, g)
        for name, g in row_grads.items():
            scaled = g * factor.reshape(*factor.shape, *([1] * (g.ndim - 2)))
            table = torch.zeros_like(shared[name])
            target = index[name].reshape(*index[name].shape, *([1] * (g.ndim - 2)))
            sums[name] = table.scatter_add_(1, target.expand_as(scaled), scaled)
        if self.user_embedding:
            user_sum = torch.einsum("kb,kbd->kd", factor, user_grads)
        else:
            user_sum = user_grads.sum(dim=1)
        real = weight > 0
        clipped = float(((factor < 1) & real).sum()) / max(1, int(real.sum()))
        loss = losses.sum(dim=1) / weight.sum(dim=1).clamp_min(1e-12)
        return ClippedGradients(sums, user_sum, loss, clipped)


class DpSgdTrainer:
    """Local DP-SGD for all sampled clients in lock-step (same schedule as the plain engine).

    Client ``c``'s noise comes from a generator seeded by ``batches.seeds[c]``,
    so it depends only on (seed, round, client): the same in every engine
    (in-process or Flower) and in whatever order clients are trained.
    """

    def __init__(
        self,
        tower: ItemTower,
        layout: SharedLayout,
        noise_multiplier: float,
        max_grad_norm: float,
        user_embedding: bool,
    ) -> None:
        self.tower = tower
        self.layout = layout
        self.noise_multiplier = noise_multiplier
        self.max_grad_norm = max_grad_norm
        self.user_embedding = user_embedding
        self.clipping = PerExampleClipping(tower, max_grad_norm, user_embedding)

    def _noise(self, generators: list[torch.Generator], shapes: list[torch.Size]) -> list[Tensor]:
        """One draw per client of N(0, sigma^2 C^2) for tensors of per-client ``shapes``."""
        sizes = [s.numel() for s in shapes]
        sigma = self.noise_multiplier * self.max_grad_norm
        flat = torch.stack([torch.randn(sum(sizes), generator=g) for g in generators]) * sigma
        return [
            chunk.reshape(len(generators), *shape)
            for chunk, shape in zip(flat.split(sizes, dim=1), shapes, strict=True)
        ]

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult:
        n = batches.n_clients
        b = config.batch_size
        steps = batches.active.sum(dim=1)
        order = torch.argsort(steps, descending=True, stable=True)
        items, labels, weight = (x[order] for x in (batches.items, batches.labels, batches.weight))
        start = self.layout.unflatten(global_params)
        names = list(start)
        params = [start[name].expand(n, *start[name].shape).clone() for name in names]
        params.append(users[order].clone())
        generators = [torch.Generator().manual_seed(int(s)) for s in batches.seeds[order]]
        noised = len(names) + int(self.user_embedding)
        shapes = [p.shape[1:] for p in params[:noised]]
        first = [torch.zeros_like(p) for p in params]
        second = [torch.zeros_like(p) for p in params]
        loss_sum = global_params.new_zeros(n)
        for t in range(batches.n_steps):
            k = int((steps > t).sum())
            active = [p[:k] for p in params]
            clipped = self.clipping(
                dict(zip(names, active[:-1], strict=True)),
                active[-1],
                items[:k, t],
                labels[:k, t],
                weight[:k, t],
            )
            sums = [clipped.shared[name] for name in names]
            if self.user_embedding:
                sums.append(clipped.user)
            noise = self._noise(generators[:k], shapes)
            grads = [(s + z) / b for s, z in zip(sums, noise, strict=True)]
            if not self.user_embedding:
                batch_weight = weight[:k, t].sum(dim=1).clamp_min(1e-12)
                grads.append(clipped.user / batch_weight[:, None])
            if config.prox_mu > 0:
                # FedProx's proximal term is data-independent: added after the noise.
                for name, g, p in zip(names, grads, active, strict=False):
                    g.add_(p - start[name], alpha=config.prox_mu)
            local_step(params, grads, first, second, k, t + 1, config)
            loss_sum[:k] += clipped.loss.detach()
        inverse = torch.argsort(order)
        shared = torch.cat([p.reshape(n, -1) for p in params[:-1]], dim=1)
        return LocalResult(
            shared=shared[inverse],
            users=params[-1][inverse],
            loss=loss_sum[inverse] / steps.clamp_min(1).to(loss_sum.dtype),
        )
