"""The defense contract: ``aggregate(updates, weights, ctx) -> Aggregate``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from fedarena.registry import Registry


@dataclass(frozen=True)
class RoundContext:
    """What the server knows in a round, beside the updates themselves.

    ``n_malicious`` is the number of malicious clients the defense may assume
    among these updates (its ``f``); ``client_ids`` identify the updates' senders
    across rounds (FoolsGold keeps a history per id); ``server_update``, where the
    server holds a small clean root set (FLTrust), trains the current global
    model on it and returns that update.
    """

    round: int
    n_malicious: int
    client_ids: np.ndarray
    global_params: Tensor
    generator: torch.Generator
    server_update: Callable[[], Tensor] | None = None


@dataclass(frozen=True)
class Aggregate:
    """A defense's output: the aggregated update and whom it accepted.

    ``accepted[i]`` is False for a client the defense rejected or flagged as
    malicious (detection precision and recall are computed from it); ``None``
    means it judged no one.
    """

    update: Tensor
    accepted: Tensor | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Defense(Protocol):
    """Server side of a defense (optionally with a client-side part, see DP-SGD)."""

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate: ...


DEFENSES: Registry[Defense] = Registry("defense", "fedarena.defenses", "fedarena.defenses")
