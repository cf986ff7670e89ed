"""Helpers for the attack tests: a round context and a tiny hand-made population."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.attacks.base import AttackContext
from fedarena.data.shoppers import Population


def make_context(
    updates: torch.Tensor,
    malicious: torch.Tensor,
    n_clients: int | None = None,
    server_gain: float = 1.0,
    round: int = 0,
    seed: int = 0,
) -> AttackContext:
    """What the federation passes to ``craft``, with the benign updates always filled in."""
    return AttackContext(
        round=round,
        global_params=torch.zeros(updates.shape[1]),
        n_clients=len(updates) if n_clients is None else n_clients,
        server_gain=server_gain,
        generator=torch.Generator().manual_seed(seed),
        benign_updates=updates[~malicious],
    )


def make_population(logs: list[tuple[list[int], list[float]]], n_main: int = 2) -> Population:
    """A population with the given training logs and one dummy test case per shopper."""
    n = len(logs)
    lengths = [len(items) for items, _ in logs]
    return Population(
        persona=np.zeros(n, dtype=np.int64),
        affinity=np.full((n, n_main), 1.0 / n_main),
        propensity=np.zeros(n),
        train_ptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        train_items=np.concatenate([np.array(items, dtype=np.int64) for items, _ in logs]),
        train_labels=np.concatenate([np.array(labels, dtype=np.float32) for _, labels in logs]),
        test_shopper=np.arange(n),
        test_items=np.zeros((n, 2), dtype=np.int64),
        n_excluded=0,
    )


@pytest.fixture()
def ctx():
    return make_context


@pytest.fixture()
def tiny_population():
    return make_population
