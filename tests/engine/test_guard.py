"""Whatever a client sends, only well-formed float vectors reach a defense."""

from __future__ import annotations

import numpy as np
import torch

from fedarena.engine.guard import screen


def test_malformed_updates_are_rejected():
    d = 4
    sent = [
        torch.ones(d),
        torch.tensor([1.0, float("nan"), 0.0, 0.0]),
        torch.tensor([float("inf"), 0.0, 0.0, 0.0]),
        torch.full((d,), 3e38),  # finite entries, norm beyond float32
        torch.ones(d + 1),
        torch.ones(d, dtype=torch.int64),
        np.ones(d),
        "hello",
        None,
        torch.ones(d, dtype=torch.float64) * 2,
    ]
    kept, valid = screen(sent, d)
    assert valid.tolist() == [True] + [False] * 8 + [True]
    assert kept.dtype == torch.float32
    assert torch.equal(kept, torch.stack([torch.ones(d), torch.full((d,), 2.0)]))


def test_nothing_valid_gives_an_empty_stack():
    kept, valid = screen([None, torch.ones(2)], 3)
    assert kept.shape == (0, 3) and not valid.any()
