"""Train all sampled clients at once over stacked parameters, with closed-form gradients.

Each shared parameter is stacked into a tensor with one row per client; the
private embeddings are stacked likewise. The model's ``stacked_forward``
scores every client's minibatch in one pass and its ``stacked_gradients`` gives
every client's gradient in closed form (the recommenders are small enough to
differentiate by hand: no autograd graph and no ``vmap``; the tests hold the
gradients to autograd and this trainer to the sequential reference).

Four exact savings keep it fast:

- *Per-client item rows.* A client's loss only touches the items in its own
  examples, so the gradient (and hence every SGD or Adam step, whose state
  starts at zero each round) of every other row of the per-item parameters is
  exactly zero. Each client therefore trains a tower restricted to its own
  items (rows gathered, items renumbered; every client's rows in one table,
  one client after the other) and its changes are scattered back. This keeps
  memory per client independent of the catalog size and of the other clients.
- *Active prefix.* Clients are sorted by decreasing number of steps, so at
  step ``t`` the clients still training are a prefix, updated through views, and
  their batches one block of rows (``fedarena.training.local.lock_step``): no
  client's batches are padded to the busiest client's steps.
- *Fused steps.* SGD is one multi-tensor add, Adam torch's fused kernel (one
  pass over memory instead of seven).
- *Row steps.* Plain SGD (no proximal term) moves only the rows a step's batch
  gathered: their gradient terms are summed into a table that is zeroed again
  where it was used, and each such row gets the same ``p - lr * g`` as a step over
  the whole table, bit for bit. A heavy client's last steps, alone with a
  table of thousands of rows, cost its batch.

Results equal the sequential reference (``fedarena.training.sequential``) up to
float rounding; the engine tests check it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fedarena.model import Recommender, SharedLayout
from fedarena.stacked import Gradient, RowTerms, gather_rows, row_terms, scatter_rows
from fedarena.training.contrastive import ContrastiveTerm
from fedarena.training.local import (
    LocalBatches,
    LocalResult,
    LocalTraining,
    LocalUpdates,
    lock_step,
)
from fedarena.training.objective import batch_loss, mean_loss_derivative
from fedarena.updates import SparseUpdates

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class VectorisedTrainer:
    """Local training of every sampled client in lock-step, with ``term`` (UNION's
    contrastive loss on the item embeddings) added to the data loss where one is given."""

    def __init__(
        self, tower: Recommender, layout: SharedLayout, term: ContrastiveTerm | None = None
    ) -> None:
        self.tower = tower
        self.layout = layout
        self.term = term

    def regularised(self, term: ContrastiveTerm) -> VectorisedTrainer:
        """This training with ``term`` added to every step's loss."""
        return VectorisedTrainer(self.tower, self.layout, term)

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult:
        trained = self._train(global_params, users, batches, config)
        shared = global_params.repeat(batches.n_clients, 1)  # each client's sent vector
        dim, columns = len(global_params), trained.support.columns
        for part in trained.parts:
            flat = part.client[:, None] * dim + columns[part.at]
            shared.view(-1)[flat.reshape(-1)] = part.new.reshape(-1)
        return LocalResult(shared, trained.users, trained.loss)

    def train_updates(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalUpdates:
        """As ``train``, with the updates (new minus global parameters) on the columns that
        training changed: at 200,000 items a round's clients change a few thousand rows.
        Their norms come from each client's own entries, not from its row of the matrix."""
        trained = self._train(global_params, users, batches, config)
        columns = trained.support.columns
        updates = global_params.new_zeros(batches.n_clients, len(columns))
        squares = torch.zeros(batches.n_clients, dtype=torch.float64)
        for part in trained.parts:
            change = part.new - part.old
            flat = part.client[:, None] * len(columns) + part.at
            updates.view(-1)[flat.reshape(-1)] = change.reshape(-1)
            norms = torch.linalg.vector_norm(change, dim=1, dtype=torch.float64)
            squares.index_add_(0, part.client, norms.square())
        sparse = SparseUpdates(updates, columns, len(global_params), squares.sqrt())
        return LocalUpdates(sparse, trained.users, trained.loss)

    def _train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> _Trained:
        n = batches.n_clients
        steps = batches.steps
        plan = lock_step(batches)
        order = plan.order
        items, labels, weight = (
            x[plan.rows] for x in (batches.items, batches.labels, batches.weight)
        )
        sets = None if self.term is None else self.term.draw(batches)
        if sets is not None and not sets.real.any():
            sets = None  # no anchor anywhere: the term adds nothing
        width = items.shape[-1]
        every = items if sets is None else torch.cat([items, sets.items[plan.rows].flatten(1)], -1)
        rows, bounds, local_items = _client_rows(every, plan.owner, n)
        # the contrastive draws as positions in the clients' tables, and which are real
        drawn = None
        if self.term is not None and sets is not None:
            at_rows = local_items[..., width:].reshape(-1, *sets.items.shape[1:])
            drawn = (self.term, at_rows, sets.real[plan.rows])
        local_items = local_items[..., :width]
        full = self.layout.unflatten(global_params)
        per_item = self.tower.PER_ITEM_PARAMETERS
        # Per-item tables hold every client's own rows one after the other, (1, rows, ...): the
        # model's stacked gathers read them with the examples' positions in that table.
        start = {
            name: full[name][rows].unsqueeze(0)
            if name in per_item
            else value.expand(n, *value.shape)
            for name, value in full.items()
        }
        names = list(start)
        params = [value.clone() for value in start.values()] + [users[order].clone()]
        rows_only = _RowSteps(params) if config.optimizer == "sgd" and config.prox_mu == 0 else None
        scatter = scatter_rows if rows_only is None else row_terms
        first_moments = [torch.zeros_like(p) for p in params]
        second_moments = [torch.zeros_like(p) for p in params]
        loss_sum = global_params.new_zeros(n)
        live = None
        for t in range(batches.n_steps):
            k, block = plan.active[t], plan.block(t)
            if live is None or live.k != k:  # the active prefix shrank: views of its rows
                live = _Live.of(
                    names,
                    per_item,
                    k,
                    int(bounds[k]),
                    start,
                    params,
                    first_moments,
                    second_moments,
                    with_anchor=config.prox_mu > 0,
                )
            shared = live.shared
            batch = self.tower.stacked_forward(
                shared, live.params[-1], local_items[block], items[block]
            )
            dscore = mean_loss_derivative(batch.scores, labels[block], weight[block], config.loss)
            grads, user_grad = self.tower.stacked_gradients(shared, batch, dscore, scatter)
            if drawn is not None:
                term, at_rows, real = drawn
                table, at = shared["item_embedding"], at_rows[block]  # at: (k, m, 2 + K)
                vectors = gather_rows(table, at.flatten(1)).reshape(*at.shape, -1)
                extra = term.gradient(vectors, real[block])
                dim = table.shape[-1]  # the per-item table is (1, rows, dim): one flat table
                grads["item_embedding"] = _add_rows(
                    grads["item_embedding"], at.reshape(-1), extra.reshape(-1, dim)
                )
            if rows_only is not None:
                rows_only.step(live.params, [*(grads[name] for name in names), user_grad], config)
            else:
                dense = [grads[name] for name in names]
                if config.prox_mu > 0:
                    for name, g in zip(names, dense, strict=True):
                        g.add_(shared[name] - live.anchor[name], alpha=config.prox_mu)
                local_step(live.params, [*dense, user_grad], live.first, live.second, t + 1, config)
            loss_sum[:k] += batch_loss(batch.scores, labels[block], weight[block], config.loss)
        support = _Support(self.layout, per_item, rows, bounds, order, n)
        trained = dict(zip(start, params[:-1], strict=True))
        inverse = torch.argsort(order)
        return _Trained(
            support,
            support.changed(trained, start),
            users=params[-1][inverse],
            loss=loss_sum[inverse] / steps.clamp_min(1).to(loss_sum.dtype),
        )


@dataclass(frozen=True)
class _Trained:
    """A round's training outcome where it may differ from the global model: ``parts``, one
    per trained parameter, placed among ``support.columns``; users and losses in the
    callers' order."""

    support: _Support
    parts: list[_Changed]
    users: Tensor
    loss: Tensor


@dataclass(frozen=True)
class _Changed:
    """One parameter's trained values: row ``r`` of ``new`` is client ``client[r]``'s (in
    the callers' order) at the kept columns ``at[r]``, where the global model holds
    ``old[r]`` (a per-item table's rows) or ``old[0]`` (a dense parameter: one row, the
    same for every client)."""

    client: Tensor
    at: Tensor
    new: Tensor
    old: Tensor


class _Support:
    """The columns of the flat parameter vector that a round's training may change: every
    client's own item rows of the per-item parameters, and every dense parameter."""

    def __init__(
        self,
        layout: SharedLayout,
        per_item: tuple[str, ...],
        rows: Tensor,
        bounds: Tensor,
        order: Tensor,
        n: int,
    ) -> None:
        self.n = n
        self.rows = rows
        self.client = order[torch.repeat_interleave(bounds.diff())]  # each table row's client
        self.order = order
        offsets = np.cumsum([0, *layout.sizes])
        distinct, rank = _distinct(rows)
        pieces, self.at = [], {}
        position = 0
        for name, shape, size, offset in zip(
            layout.names, layout.shapes, layout.sizes, offsets, strict=False
        ):
            if name in per_item:
                width = size // shape[0]
                piece = (int(offset) + distinct[:, None] * width + torch.arange(width)).reshape(-1)
                # where each table row's entries sit among the kept columns
                start = position + rank[:, None] * width
                self.at[name] = start + torch.arange(width)
            else:
                piece = torch.arange(int(offset), int(offset) + size)
                self.at[name] = torch.arange(position, position + size)
            pieces.append(piece)
            position += len(piece)
        self.columns = torch.cat(pieces)
        self.per_item = per_item

    def changed(self, trained: dict[str, Tensor], start: dict[str, Tensor]) -> list[_Changed]:
        """Each parameter's new values where training may have changed them. An item row's
        new value is its global value plus the client's change, as adding that change to the
        global vector gives it, bit for bit."""
        parts = []
        for name, at in self.at.items():
            if name in self.per_item:
                old = start[name].reshape(len(self.rows), -1)
                new = old + (trained[name].reshape(len(self.rows), -1) - old)
                parts.append(_Changed(self.client, at, new, old))
            else:
                old = start[name][:1].reshape(1, -1)  # the same global values for every client
                new = trained[name].reshape(self.n, -1)
                parts.append(_Changed(self.order, at.expand(self.n, -1), new, old))
        return parts


def _distinct(rows: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.unique(rows, sorted=True, return_inverse=True)`` for item ids, by a table over
    the catalog instead of a sort: a round's rows are many more than its distinct items
    (440,000 entries over 9,066 items with all 671 MovieLens clients), and the table costs
    one pass over the catalog however few rows there are."""
    present = rows.new_zeros(int(rows.max()) + 1 if rows.numel() else 0, dtype=torch.bool)
    present[rows] = True
    rank = torch.cumsum(present, 0) - 1
    return present.nonzero().squeeze(1), rank[rows]


@dataclass(frozen=True)
class _Live:
    """Views of the ``k`` active clients' part of every stacked table (the first ``end`` rows
    of a per-item table, the first ``k`` clients of any other): parameters (the users' last),
    Adam's moments and, for FedProx, the round's start. In-place steps through the views
    train the tables, so they are taken again only when the active prefix shrinks."""

    k: int
    shared: dict[str, Tensor]
    params: list[Tensor]
    first: list[Tensor]
    second: list[Tensor]
    anchor: dict[str, Tensor]

    @classmethod
    def of(
        cls,
        names: list[str],
        per_item: tuple[str, ...],
        k: int,
        end: int,
        start: dict[str, Tensor],
        params: list[Tensor],
        first: list[Tensor],
        second: list[Tensor],
        with_anchor: bool,
    ) -> _Live:
        tables = [*names, "user"]

        def cut(name: str, table: Tensor) -> Tensor:
            return table[:, :end] if name in per_item else table[:k]

        def views(stack: list[Tensor]) -> list[Tensor]:
            return [cut(name, table) for name, table in zip(tables, stack, strict=True)]

        live = views(params)
        anchor = {name: cut(name, start[name]) for name in names} if with_anchor else {}
        shared = dict(zip(names, live, strict=False))
        return cls(k, shared, live, views(first), views(second), anchor)


def _add_rows(gradient: Gradient, index: Tensor, values: Tensor) -> Gradient:
    """``gradient`` of a flat (rows, dim) table with ``values[j]`` added at row ``index[j]``."""
    if isinstance(gradient, RowTerms):
        return gradient.plus(index, values)
    gradient.view(-1, values.shape[-1]).index_add_(0, index, values)
    return gradient


class _RowSteps:
    """Plain SGD steps that move a gathered table only where the batch gathered it.

    A gathered table's gradient comes as ``RowTerms``. They are summed into ``sums``
    (zeros shaped as the table), the rows they name are stepped, and ``sums`` is zeroed
    there again. The sums are the same floats as ``scatter_rows`` gives (the same
    additions in the same order, from zero), and each row's ``p - lr * g`` is the same
    elementwise kernel, so the tables equal a step over the whole table bit for bit; rows
    the batch did not gather have ``g = 0`` there, and ``p + -0.0 = p``.
    """

    def __init__(self, tables: list[Tensor]) -> None:
        self.sums: dict[int, Tensor] = {}
        self.tables = tables

    def step(self, params: list[Tensor], grads: list[Gradient], config: LocalTraining) -> None:
        """One SGD step of the active clients' ``params`` (views of ``tables``), in place."""
        dense = [(p, g) for p, g in zip(params, grads, strict=True) if isinstance(g, Tensor)]
        if dense:
            torch._foreach_add_([p for p, _ in dense], [g for _, g in dense], alpha=-config.lr)
        for position, (param, grad) in enumerate(zip(params, grads, strict=True)):
            if isinstance(grad, RowTerms):
                self._rows(position, param, grad, config.lr)

    def _rows(self, position: int, param: Tensor, terms: RowTerms, lr: float) -> None:
        tail = terms.values.shape[1:]
        if position not in self.sums:
            self.sums[position] = torch.zeros_like(self.tables[position]).view(-1, *tail)
        sums, rows = self.sums[position], param.view(-1, *tail)  # a prefix of the table
        sums.index_put_((terms.index,), terms.values, accumulate=True)  # serial: in order
        stepped = rows.index_select(0, terms.index)
        stepped.add_(sums.index_select(0, terms.index), alpha=-lr)
        rows.index_copy_(0, terms.index, stepped)  # a row named twice gets the same values
        sums.index_fill_(0, terms.index, 0.0)


def _client_rows(items: Tensor, owner: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Every client's sorted distinct items, one client after the other (``rows``), where
    each client's run starts (``bounds``, n + 1 offsets) and the examples' items as
    positions in ``rows``, for ``items`` (one row per step) of the clients ``owner``. A
    client's table is as long as its own items, not as the longest client's: a heavy-tailed
    log's one user with 2,000 items does not pad the rest."""
    span = int(items.max()) + 1 if items.numel() else 1
    keys, inverse = torch.unique(owner[:, None] * span + items, sorted=True, return_inverse=True)
    bounds = torch.searchsorted(keys, torch.arange(n + 1) * span)
    return keys % span, bounds, inverse


def local_step(
    params: list[Tensor],
    grads: list[Tensor],
    first: list[Tensor],
    second: list[Tensor],
    step: int,
    config: LocalTraining,
) -> None:
    """One SGD or Adam step of the active clients' ``params`` (views), in place."""
    if config.optimizer == "sgd":
        torch._foreach_add_(params, grads, alpha=-config.lr)
    else:
        adam_step(params, grads, first, second, step, config.lr)


def adam_step(
    params: list[Tensor],
    grads: list[Tensor],
    first: list[Tensor],
    second: list[Tensor],
    step: int,
    lr: float,
) -> None:
    """In-place Adam (Kingma & Ba 2015) exactly as ``torch.optim.Adam`` computes it::

        m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    by the fused kernel of ``torch.optim.Adam(fused=True)``: one pass over each tensor
    instead of seven, measured 3x faster here (the step is memory-bound).
    """
    b1, b2 = ADAM_BETAS
    steps = [torch.tensor(float(step))] * len(params)
    torch._fused_adam_(
        params,
        [g.contiguous() for g in grads],  # the kernel reads memory in order, ignoring strides
        first,
        second,
        [],
        steps,
        lr=lr,
        beta1=b1,
        beta2=b2,
        weight_decay=0.0,
        eps=ADAM_EPS,
        amsgrad=False,
        maximize=False,
    )
