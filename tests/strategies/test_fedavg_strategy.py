"""FedAvg: uniform sampling and the plain server step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.errors import SpecError
from fedarena.strategies import STRATEGIES


def test_server_step_adds_eta_times_the_aggregate():
    strategy = STRATEGIES.create("fedavg(server_lr=0.5)")
    new = strategy.server_step(torch.tensor([1.0, 2.0]), torch.tensor([4.0, -2.0]), round=0)
    assert new.tolist() == [3.0, 1.0]
    assert strategy.server_lr == 0.5


def test_samples_distinct_clients_uniformly():
    strategy = STRATEGIES.create("fedavg")
    rng = np.random.default_rng(0)
    counts = np.zeros(20)
    for _ in range(2000):
        chosen = strategy.sample_clients(20, 5, rng)
        assert len(set(chosen.tolist())) == 5 and list(chosen) == sorted(chosen)
        counts[chosen] += 1
    # each client is chosen with probability 1/4: 500 times, sd ~19
    assert np.abs(counts - 500).max() < 100


@pytest.mark.parametrize("value", ["0", "-1", "nan", "True", "'x'"])
def test_bad_server_lr_is_rejected(value):
    with pytest.raises(SpecError, match="server_lr must be"):
        STRATEGIES.create(f"fedavg(server_lr={value})")
