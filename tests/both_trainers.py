"""The vectorised and the sequential trainer on the same clients' batches, held to agree:
the check every recommender's closed-form gradients share."""

from __future__ import annotations

import numpy as np
import torch

from fedarena.data.shoppers import Population
from fedarena.model import Recommender, SharedLayout
from fedarena.training.contrastive import ContrastiveTerm
from fedarena.training.local import (
    LocalBatches,
    LocalResult,
    LocalTraining,
    build_batches,
    training_examples,
)
from fedarena.training.sequential import SequentialTrainer
from fedarena.training.vectorised import VectorisedTrainer

CLIENTS = np.array([0, 3, 5, 11])


def trained_both_ways(
    model: Recommender,
    layout: SharedLayout,
    init: torch.Tensor,
    users: torch.Tensor,
    population: Population,
    config: LocalTraining,
    term: ContrastiveTerm | None = None,
) -> tuple[LocalResult, LocalBatches]:
    """Train ``CLIENTS`` with both trainers (with UNION's contrastive ``term`` where given),
    assert they agree, return the vectorised run."""
    rngs = [np.random.default_rng([7, int(c)]) for c in CLIENTS]
    data = [
        training_examples(*population.train_log(int(c)), model.n_items, config, r)
        for c, r in zip(CLIENTS, rngs, strict=True)
    ]
    batches = build_batches(data, config, rngs)
    fast = VectorisedTrainer(model, layout, term).train(init, users[CLIENTS], batches, config)
    slow = SequentialTrainer(model, layout, term).train(init, users[CLIENTS], batches, config)
    torch.testing.assert_close(fast.shared, slow.shared, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(fast.users, slow.users, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(fast.loss, slow.loss.to(fast.loss.dtype), atol=1e-5, rtol=1e-4)
    return fast, batches
