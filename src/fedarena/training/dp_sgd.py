"""DP-SGD local training of every sampled client at once (Abadi et al., CCS 2016).

Each step of each client::

    g_j  = grad of l_j (w_j BCE(s(u, i_j), y_j), or a BPR pair's loss)     per example j
    g~_j = g_j min(1, C / (||g_j|| + 1e-6))                   (Opacus's clipping)
    g    = (sum_j g~_j + N(0, sigma^2 C^2 I)) / b              b = batch size
    then an SGD or Adam step on g.

Per-example gradients are never formed: the recommender's gradient of one
example is its loss derivative times vectors whose norms ``fedarena.model``
gives in closed form (the model's ``example_gradient_norms``; a pair's for BPR), so the
clip factors come from those norms and the clipped sum is the plain gradient with each
example's derivative scaled by its factor (``stacked_gradients``); the tests hold it to
Opacus's per-sample gradients. The noise covers every shared parameter, rows
of items the client never saw included, which is why this trainer keeps each
client's full shared vector instead of the plain engine's per-client item rows
(the noise draw, one Gaussian per parameter per client and step, is most of
its cost).

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

from fedarena.model import Recommender, SharedLayout
from fedarena.training.local import LocalBatches, LocalResult, LocalTraining, lock_step
from fedarena.training.objective import example_terms
from fedarena.training.vectorised import local_step

STABILISER = 1e-6  # as Opacus's clip factor C / (||g|| + 1e-6)


@dataclass(frozen=True)
class ClippedGradients:
    """Per client: the sum of clipped per-example gradients of the shared parameters, the
    user-embedding gradient sum (clipped with them or not), and the weighted data loss."""

    shared: dict[str, Tensor]
    user: Tensor
    loss: Tensor
    weight: Tensor  # each example's (pair's) loss weight, (k, b)
    clipped_fraction: float


class PerExampleClipping:
    """Clipped per-example gradient sums of the recommender's loss, for k clients at once."""

    def __init__(self, tower: Recommender, max_grad_norm: float, user_embedding: bool) -> None:
        self.tower = tower
        self.max_grad_norm = max_grad_norm
        self.user_embedding = user_embedding

    def __call__(
        self,
        shared: dict[str, Tensor],
        user: Tensor,
        items: Tensor,
        labels: Tensor,
        weight: Tensor,
    ) -> ClippedGradients:
        """``shared``: each parameter with a leading client axis k; ``items`` etc.: (k, b)."""
        tower = self.tower
        batch = tower.stacked_forward(shared, user, items, items)
        losses, weights, dscore = example_terms(batch.scores, labels, weight, tower.LOSS)
        norms = tower.example_gradient_norms(shared, batch, dscore, self.user_embedding)
        factor = (self.max_grad_norm / (norms + STABILISER)).clamp(max=1.0)
        sides = dscore.shape[-1] // factor.shape[-1]  # a pair's factor scales both its items
        clipped_dscore = factor.repeat(1, sides) * dscore
        sums, clipped_user = tower.stacked_gradients(shared, batch, clipped_dscore)
        if not self.user_embedding:
            clipped_user = tower.user_gradient(shared, batch, dscore)
        real = weights > 0
        clipped = float(((factor < 1) & real).sum()) / max(1, int(real.sum()))
        loss = losses.sum(dim=1) / weights.sum(dim=1).clamp_min(1e-12)
        return ClippedGradients(sums, clipped_user, loss, weights, clipped)


class DpSgdTrainer:
    """Local DP-SGD for all sampled clients in lock-step (same schedule as the plain engine).

    Client ``c``'s noise comes from a generator seeded by ``batches.seeds[c]``,
    so it depends only on (seed, round, client): the same in every engine
    (in-process or Flower) and in whatever order clients are trained.
    """

    def __init__(
        self,
        tower: Recommender,
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
        flat = torch.empty(len(generators), sum(sizes))
        for row, generator in zip(flat, generators, strict=True):
            row.normal_(generator=generator)
        flat.mul_(self.noise_multiplier * self.max_grad_norm)
        return [
            chunk.reshape(len(generators), *shape)
            for chunk, shape in zip(flat.split(sizes, dim=1), shapes, strict=True)
        ]

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult:
        n = batches.n_clients
        b = config.batch_size
        steps = batches.steps
        plan = lock_step(batches)
        order = plan.order
        items, labels, weight = (
            x[plan.rows] for x in (batches.items, batches.labels, batches.weight)
        )
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
            k, block = plan.active[t], plan.block(t)
            active = [p[:k] for p in params]
            clipped = self.clipping(
                dict(zip(names, active[:-1], strict=True)),
                active[-1],
                items[block],
                labels[block],
                weight[block],
            )
            sums = [clipped.shared[name] for name in names]
            if self.user_embedding:
                sums.append(clipped.user)
            noise = self._noise(generators[:k], shapes)
            grads = [z.add_(s).div_(b) for s, z in zip(sums, noise, strict=True)]
            if not self.user_embedding:
                batch_weight = clipped.weight.sum(dim=1).clamp_min(1e-12)
                grads.append(clipped.user / batch_weight[:, None])
            if config.prox_mu > 0:
                # FedProx's proximal term is data-independent: added after the noise.
                for name, g, p in zip(names, grads, active, strict=False):
                    g.add_(p - start[name], alpha=config.prox_mu)
            local_step(
                active, grads, [m[:k] for m in first], [v[:k] for v in second], t + 1, config
            )
            loss_sum[:k] += clipped.loss.detach()
        inverse = torch.argsort(order)
        shared = torch.cat([p.reshape(n, -1) for p in params[:-1]], dim=1)
        return LocalResult(
            shared=shared[inverse],
            users=params[-1][inverse],
            loss=loss_sum[inverse] / steps.clamp_min(1).to(loss_sum.dtype),
        )
