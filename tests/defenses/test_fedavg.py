"""FedAvg: the sample-size weighted mean."""

from __future__ import annotations

import torch
from defense_helpers import context

from fedarena.defenses.fedavg import FedAvg


def test_weighted_mean_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 4.0], [2.0, 2.0]])
    out = FedAvg().aggregate(x, torch.tensor([1.0, 1.0, 2.0]), context(x))
    assert out.update.tolist() == [1.25, 2.0]
    assert out.accepted is None
