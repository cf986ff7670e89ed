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
    Each client's generator draws its epochs' orders, then its training seed;
    the copy itself is one gather per column and side for every client at once.
    """
    if len(datasets) != len(rngs):
        raise ValueError(f"{len(datasets)} datasets but {len(rngs)} generators")
    b, epochs = config.batch_size, config.epochs
    sides = 2 if config.loss == "bpr" else 1
    lengths = np.asarray([len(items) for items, _, _ in datasets], dtype=np.int64)
    sizes = lengths // sides
    per_epoch = np.maximum(1, -(-sizes // b))
    steps = epochs * per_epoch
    orders, seeds = [], np.zeros(len(datasets), dtype=np.int64)
    for c, rng in enumerate(rngs):
        orders += [rng.permutation(sizes[c]) for _ in range(epochs)]
        seeds[c] = rng.integers(2**62)
    # one segment per (client, epoch): its examples fill the epoch's rows from the first on
    count = np.repeat(sizes, epochs)
    first_row = np.repeat(np.cumsum(steps) - steps, epochs)
    first_row += np.tile(np.arange(epochs), len(datasets)) * np.repeat(per_epoch, epochs)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    target = (np.repeat(first_row, count) + k // b) * (sides * b) + k % b
    source = np.repeat(np.repeat(np.cumsum(lengths) - lengths, epochs), count)
    source += _joined(orders, np.int64)
    side_offset = np.repeat(count, count)  # side h of a pair is h * size past side 0
    shape = (int(steps.sum()), sides * b)  # each row a step: each side's b in turn
    tables = []
    for column, dtype in enumerate((np.int64, np.float32, np.float32)):
        joined = _joined([example[column] for example in datasets], dtype)
        table = np.zeros(shape, dtype=dtype)
        flat = table.reshape(-1)
        for h in range(sides):
            flat[target + h * b] = joined[source + h * side_offset]
        tables.append(torch.from_numpy(table))
    items, labels, weight = tables
    return LocalBatches(
        items=items,
        labels=labels,
        weight=weight,
        steps=torch.from_numpy(steps),
        seeds=torch.from_numpy(seeds),
    )


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    """``arrays`` end to end as ``dtype`` (empty when there are none)."""
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


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
