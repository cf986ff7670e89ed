"""Garbage: malformed messages that prove the server survives anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fedarena.attacks.base import ATTACKS, Attack, AttackContext

HUGE = 1e38

MESSAGES: dict[str, Callable[[int], Any]] = {
    "nan": lambda d: torch.full((d,), float("nan")),
    "inf": lambda d: torch.tensor([float("inf"), -float("inf")]).repeat(d)[:d],
    "huge": lambda d: torch.full((d,), HUGE),
    "wrong_length": lambda d: torch.zeros(d + 1),
    "int_tensor": lambda d: torch.zeros(d, dtype=torch.int64),
    "numpy": lambda d: np.zeros(d, dtype=np.float32),
    "none": lambda d: None,
    "text": lambda d: "not an update",
}
"""Each kind of malformed message, for an update length ``d``."""


@ATTACKS.register("garbage")
class Garbage(Attack):
    """Malformed updates: NaN, +-Inf, 1e38 entries, wrong length, non-tensors.

    ``huge`` has finite float32 entries whose norm (about ``1e38 sqrt(d)``)
    overflows float32 once ``d > 11``, the case that slips past a check of ``isfinite`` on
    the entries alone. With ``kind="mixed"`` the ``k``-th malicious client of
    round ``t`` sends kind number ``(t + k) mod 8`` of ``MESSAGES``, so every
    kind arrives within a few rounds. Nothing here is a valid update: the
    server must reject it, flag the sender and go on.
    """

    acts_on = frozenset({"update"})
    knowledge = "none"
    goal = "untargeted"

    def __init__(self, kind: str = "mixed") -> None:
        if kind != "mixed" and kind not in MESSAGES:
            raise ValueError(f"kind must be one of mixed, {', '.join(MESSAGES)}, got {kind!r}")
        self.kind = kind

    def craft(self, updates: Tensor, malicious: Tensor, ctx: AttackContext) -> list[Any]:
        kinds = list(MESSAGES)
        sent: list[Any] = list(updates)
        d = updates.shape[1]
        for k, i in enumerate(malicious.nonzero().flatten().tolist()):
            kind = self.kind if self.kind != "mixed" else kinds[(ctx.round + k) % len(kinds)]
            sent[i] = MESSAGES[kind](d)
        return sent
