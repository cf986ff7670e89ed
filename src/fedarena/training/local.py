"""What a client does in one round: its dataset, batches and training options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from fedarena.errors import FedarenaError

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class LocalTraining:
    """Local training options.

    A client's examples are its logged purchases (label 1, weight 1), its
    browsed-only items (label 0, weight ``browsed_weight``) and
    ``negatives_per_positive`` uniformly drawn items per purchase (label 0,
    weight 1). Browsed-only items are down-weighted because they teach what a
    shopper buys *given* that it looked, while recommending needs what it buys
    at all. ``prox_mu`` > 0 adds FedProx's ``mu/2 ||w - w_global||^2``.
    """

    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "adam"
    negatives_per_positive: int = 4
    browsed_weight: float = 0.1
    prox_mu: float = 0.0

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
    """A client's (items, labels, weights) for one round: its log plus fresh uniform negatives."""
    n_neg = config.negatives_per_positive * int((labels > 0.5).sum())
    negatives = rng.integers(0, n_items, size=n_neg)
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
    DP-SGD's sensitivity bound assumes.
    """
    b = config.batch_size
    per_epoch = [max(1, -(-len(items) // b)) for items, _, _ in datasets]
    n_steps = config.epochs * max(per_epoch)
    shape = (len(datasets), n_steps * b)
    items_out = np.zeros(shape, dtype=np.int64)
    labels_out = np.zeros(shape, dtype=np.float32)
    weight_out = np.zeros(shape, dtype=np.float32)
    seeds = np.zeros(len(datasets), dtype=np.int64)
    for c, ((items, labels, weights), rng) in enumerate(zip(datasets, rngs, strict=True)):
        for epoch in range(config.epochs):
            order = rng.permutation(len(items))
            at = slice(epoch * per_epoch[c] * b, epoch * per_epoch[c] * b + len(items))
            items_out[c, at] = items[order]
            labels_out[c, at] = labels[order]
            weight_out[c, at] = weights[order]
        seeds[c] = rng.integers(2**62)
    active = np.arange(n_steps)[None, :] < config.epochs * np.asarray(per_epoch)[:, None]
    return LocalBatches(
        items=torch.from_numpy(items_out.reshape(len(datasets), n_steps, b)),
        labels=torch.from_numpy(labels_out.reshape(len(datasets), n_steps, b)),
        weight=torch.from_numpy(weight_out.reshape(len(datasets), n_steps, b)),
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
    the clients whose batches are given, from the same global parameters."""

    def train(
        self, global_params: Tensor, users: Tensor, batches: LocalBatches, config: LocalTraining
    ) -> LocalResult: ...


def weighted_bce(scores: Tensor, labels: Tensor, weight: Tensor) -> Tensor:
    """Weighted mean binary cross-entropy over the last axis (weight 0 = padding)."""
    losses = torch.nn.functional.binary_cross_entropy_with_logits(scores, labels, reduction="none")
    return (losses * weight).sum(-1) / weight.sum(-1).clamp_min(1e-12)


def proximal_term(shared: Tensor, anchor: Tensor, mu: float) -> Tensor:
    """FedProx's ``mu/2 ||w - w_global||^2`` (Li et al., MLSys 2020)."""
    return 0.5 * mu * ((shared - anchor) ** 2).sum(-1)
