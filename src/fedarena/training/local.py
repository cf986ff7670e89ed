"""What a client does in one round: its dataset, batches and training options."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from fedarena.errors import FedarenaError
from fedarena.training.objective import LOSSES
from fedarena.updates import SparseUpdates

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class LocalTraining:
    """Local training options.

    With the ``bce`` loss a client's examples are its logged purchases (label 1,
    weight 1), its browsed-only items (label 0, weight ``browsed_weight``) and
    ``negatives_per_positive`` uniformly drawn items per purchase (label 0,
    weight 1). Browsed-only items are down-weighted because they teach what a
    shopper buys *given* that it looked, while recommending needs what it buys
    at all. With ``bpr`` (the model's loss, ``fedarena.training.objective``)
    they are pairs of a purchase and one of its ``negatives_per_positive``
    drawn items; browsed-only items take no part. ``prox_mu`` > 0 adds FedProx's
    ``mu/2 ||w - w_global||^2``.
    """

    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "adam"
    negatives_per_positive: int = 4
    browsed_weight: float = 0.1
    prox_mu: float = 0.0
    loss: str = "bce"

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise FedarenaError(f"local_epochs must be > 0, got {self.epochs}")
        if self.batch_size <= 0:
            raise FedarenaError(f"batch_size must be > 0, got {self.batch_size}")
        if not self.lr > 0:
            raise FedarenaError(f"local_lr must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise FedarenaError(
                f"local_optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.negatives_per_positive < 0:
            raise FedarenaError(
                f"negatives_per_positive must be >= 0, got {self.negatives_per_positive}"
            )
        if not 0 <= self.browsed_weight <= 1:
            raise FedarenaError(f"browsed_weight must be in [0, 1], got {self.browsed_weight}")
        if self.prox_mu < 0:
            raise FedarenaError(f"prox_mu must be >= 0, got {self.prox_mu}")
        if self.loss not in LOSSES:
            raise FedarenaError(f"loss must be one of {LOSSES}, got {self.loss!r}")


@dataclass(frozen=True)
class LocalBatches:
    """Every sampled client's minibatches for one round, one row per step a client takes.

    ``items``, ``labels`` and ``weight`` have shape (total steps, batch width): client ``c``'s
    steps are the rows ``rows(c)``, in order. A client with less data has fewer rows and
    nothing is padded to the busiest client (on a heavy-tailed log one user's 150 steps would
    otherwise pad every other client's ten). ``weight`` is each example's loss weight, 0 on
    the padding of an epoch's last, partial batch. ``seeds[c]`` seeds client ``c``'s own
    randomness in training (DP-SGD's noise), drawn from its round generator so that it
    depends only on (seed, round, client).
    """

    items: Tensor
    labels: Tensor
    weight: Tensor
    steps: Tensor
    seeds: Tensor

    @property
    def n_clients(self) -> int:
        return len(self.steps)

    @property
    def n_steps(self) -> int:
        """The busiest client's steps."""
        return int(self.steps.max()) if len(self.steps) else 0

    @cached_property
    def first(self) -> Tensor:
        """Each client's first row."""
        return torch.cumsum(self.steps, 0) - self.steps

    def rows(self, client: int) -> range:
        """Client ``client``'s rows, one per step."""
        start = int(self.first[client])
        return range(start, start + int(self.steps[client]))


@dataclass(frozen=True)
class LockStep:
    """How the vectorised trainers step every client at once: by decreasing number of steps
    (``order``, stable), so that the clients still training at step ``t`` are the first
    ``active[t]`` of ``order``; the batches' rows re-laid step after step (``rows``; step
    ``t``'s are ``block(t)``, one per active client in ``order``), and each laid-out row's
    client as its position in ``order`` (``owner``)."""

    order: Tensor
    active: list[int]
    starts: list[int]
    rows: Tensor
    owner: Tensor

    def block(self, t: int) -> slice:
        """Step ``t``'s part of a table laid out by ``rows``."""
        return slice(self.starts[t], self.starts[t] + self.active[t])


def lock_step(batches: LocalBatches) -> LockStep:
    """The lock-step layout of ``batches`` (``LockStep``)."""
    order = torch.argsort(batches.steps, descending=True, stable=True)
    ranked = batches.steps[order]
    active = (ranked[None, :] > torch.arange(batches.n_steps)[:, None]).sum(1)
    step = torch.repeat_interleave(torch.arange(batches.n_steps), active)
    starts = torch.cumsum(active, 0) - active
    owner = torch.arange(len(step)) - torch.repeat_interleave(starts, active)
    rows = batches.first[order][owner] + step
    return LockStep(order, active.tolist(), starts.tolist(), rows, owner)


Examples = tuple[np.ndarray, np.ndarray, np.ndarray]


def training_examples(
    items: np.ndarray,
    labels: np.ndarray,
    n_items: int,
    config: LocalTraining,
    rng: np.random.Generator,
) -> Examples:
    """A client's (items, labels, weights) for one round: its log plus fresh uniform negatives.

    For ``bpr`` the m pairs are laid out as ``[a_1 .. a_m | b_1 .. b_m]``: each purchase
    ``negatives_per_positive`` times, then the drawn items, pair j being (a_j, b_j).
    """
    n_neg = config.negatives_per_positive * int((labels > 0.5).sum())
    negatives = rng.integers(0, n_items, size=n_neg)
    if config.loss == "bpr":
        bought = np.repeat(items[labels > 0.5], config.negatives_per_positive)
        return (
            np.concatenate([bought, negatives]),
            np.concatenate([np.ones(n_neg, np.float32), np.zeros(n_neg, np.float32)]),
            np.ones(2 * n_neg, dtype=np.float32),
        )
    weights = np.where(labels > 0.5, 1.0, config.browsed_weight).astype(np.float32)
    return (
        np.concatenate([items, negatives]),
        np.concatenate([labels.astype(np.float32), np.zeros(n_neg, dtype=np.float32)]),
        np.concatenate([weights, np.ones(n_neg, dtype=np.float32)]),
    )


def build_batches(
    datasets: list[Examples], config: LocalTraining, rngs: list[np.random.Generator]
) -> LocalBatches:
    """Cut each client's examples into batches, reshuffled every epoch.

    Batches never straddle two epochs (each epoch ends with its partial
    batch), so one example appears at most once per batch, which is what
    DP-SGD's sensitivity bound assumes. For ``bpr`` an example is a pair: pairs
    are shuffled and each batch of ``batch_size`` pairs is laid out as
    ``training_examples`` lays out a client's pairs (batches twice as wide).
    """
    b = config.batch_size
    sides = 2 if config.loss == "bpr" else 1
    sizes = [len(items) // sides for items, _, _ in datasets]
    per_epoch = [max(1, -(-size // b)) for size in sizes]
    steps = config.epochs * np.asarray(per_epoch, dtype=np.int64)
    shape = (int(steps.sum()), sides, b)  # each row a step: each side's b in turn
    items_out = np.zeros(shape, dtype=np.int64)
    labels_out = np.zeros(shape, dtype=np.float32)
    weight_out = np.zeros(shape, dtype=np.float32)
    seeds = np.zeros(len(datasets), dtype=np.int64)
    row = 0
    for c, (example, rng) in enumerate(zip(datasets, rngs, strict=True)):
        columns = [column.reshape(sides, sizes[c]) for column in example]
        for _ in range(config.epochs):
            order = rng.permutation(sizes[c])
            at = slice(row, row + per_epoch[c])
            for column, out in zip(columns, (items_out, labels_out, weight_out), strict=True):
                epoch = np.zeros((sides, per_epoch[c] * b), dtype=out.dtype)
                epoch[:, : sizes[c]] = column[:, order]
                out[at] = epoch.reshape(sides, per_epoch[c], b).transpose(1, 0, 2)
            row += per_epoch[c]
        seeds[c] = rng.integers(2**62)
    return LocalBatches(
        items=torch.from_numpy(items_out.reshape(len(items_out), -1)),
        labels=torch.from_numpy(labels_out.reshape(len(labels_out), -1)),
        weight=torch.from_numpy(weight_out.reshape(len(weight_out), -1)),
        steps=torch.from_numpy(steps),
        seeds=torch.from_numpy(seeds),
    )


@dataclass(frozen=True)
class LocalResult:
    """Per-client outcome of a round: new shared parameters, new private embeddings, loss."""

    shared: Tensor
    users: Tensor
    loss: Tensor


@dataclass(frozen=True)
class LocalUpdates:
    """As ``LocalResult``, with the updates (new minus global shared parameters) kept on the
    columns training changed."""

    updates: SparseUpdates
    users: Tensor
    loss: Tensor


class Trainer(Protocol):
    """What every trainer does (vectorised, sequential, DP-SGD): one round of local training of
    the clients whose batches are given, from the same global parameters. The result's
    tensors are its own: the engine turns ``shared`` into the updates in place."""

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult: ...


@runtime_checkable
class SparseTrainer(Trainer, Protocol):
    """A trainer that can also return its updates on the columns it changed."""

    def train_updates(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalUpdates: ...


def proximal_term(shared: Tensor, anchor: Tensor, mu: float) -> Tensor:
    """FedProx's ``mu/2 ||w - w_global||^2`` (Li et al., MLSys 2020)."""
    return 0.5 * mu * ((shared - anchor) ** 2).sum(-1)
