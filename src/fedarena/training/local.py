"""What a client does in one round: its dataset, batches and training options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from fedarena.errors import FedarenaError
from fedarena.training.objective import LOSSES

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
    """Every sampled client's minibatches for one round, padded to a common shape.

    ``items``, ``labels`` and ``weight`` have shape (n_clients, n_steps, batch);
    ``weight`` is each example's loss weight, 0 on padding. ``active[c, t]``
    says whether client ``c`` takes step ``t``: clients with less data stop
    early (the active steps of a client are always a prefix). ``seeds[c]``
    seeds client ``c``'s own randomness in training (DP-SGD's noise), drawn from
    its round generator so that it depends only on (seed, round, client).
    """

    items: Tensor
    labels: Tensor
    weight: Tensor
    active: Tensor
    seeds: Tensor

    @property
    def n_clients(self) -> int:
        return self.items.shape[0]

    @property
    def n_steps(self) -> int:
        return self.items.shape[1]


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
    paired = config.loss == "bpr"
    sides = 2 if paired else 1
    sizes = [len(items) // sides for items, _, _ in datasets]
    per_epoch = [max(1, -(-size // b)) for size in sizes]
    n_steps = config.epochs * max(per_epoch)
    shape = (len(datasets), sides, n_steps * b)
    items_out = np.zeros(shape, dtype=np.int64)
    labels_out = np.zeros(shape, dtype=np.float32)
    weight_out = np.zeros(shape, dtype=np.float32)
    seeds = np.zeros(len(datasets), dtype=np.int64)
    for c, (example, rng) in enumerate(zip(datasets, rngs, strict=True)):
        items, labels, weights = (column.reshape(sides, sizes[c]) for column in example)
        for epoch in range(config.epochs):
            order = rng.permutation(sizes[c])
            at = slice(epoch * per_epoch[c] * b, epoch * per_epoch[c] * b + sizes[c])
            items_out[c, :, at] = items[:, order]
            labels_out[c, :, at] = labels[:, order]
            weight_out[c, :, at] = weights[:, order]
        seeds[c] = rng.integers(2**62)
    active = np.arange(n_steps)[None, :] < config.epochs * np.asarray(per_epoch)[:, None]

    def batched(table: np.ndarray) -> Tensor:
        """(clients, sides, steps * b) as (clients, steps, sides * b): each side's b in turn."""
        steps = table.reshape(len(datasets), sides, n_steps, b).transpose(0, 2, 1, 3)
        return torch.from_numpy(np.ascontiguousarray(steps).reshape(len(datasets), n_steps, -1))

    return LocalBatches(
        items=batched(items_out),
        labels=batched(labels_out),
        weight=batched(weight_out),
        active=torch.from_numpy(active),
        seeds=torch.from_numpy(seeds),
    )


@dataclass(frozen=True)
class LocalResult:
    """Per-client outcome of a round: new shared parameters, new private embeddings, loss."""

    shared: Tensor
    users: Tensor
    loss: Tensor


class Trainer(Protocol):
    """What every trainer does (vectorised, sequential, DP-SGD): one round of local training of
    the clients whose batches are given, from the same global parameters. The result's
    tensors are its own: the engine turns ``shared`` into the updates in place."""

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult: ...


def proximal_term(shared: Tensor, anchor: Tensor, mu: float) -> Tensor:
    """FedProx's ``mu/2 ||w - w_global||^2`` (Li et al., MLSys 2020)."""
    return 0.5 * mu * ((shared - anchor) ** 2).sum(-1)
