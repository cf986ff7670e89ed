"""What every registered strategy must do, found through the registry: a strategy added as a
new file under fedarena/strategies is tested here with no edit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.strategies import STRATEGIES
from fedarena.training.local import LocalTraining

BUILT_IN = [n for n, origin in STRATEGIES.origins().items() if origin.startswith("fedarena.")]


@pytest.mark.parametrize("name", BUILT_IN)
def test_samples_distinct_clients_in_id_order(name):
    chosen = STRATEGIES.create(name).sample_clients(30, 7, np.random.default_rng(0))
    assert len(chosen) == 7 and len(set(chosen.tolist())) == 7
    assert list(chosen) == sorted(chosen) and chosen.min() >= 0 and chosen.max() < 30


@pytest.mark.parametrize("name", BUILT_IN)
def test_keeps_a_meaningful_server_lr_and_local_options(name):
    strategy = STRATEGIES.create(name)
    assert isinstance(strategy.server_lr, float) and strategy.server_lr > 0
    assert isinstance(strategy.configure_local(LocalTraining()), LocalTraining)


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_zero_aggregate_leaves_the_model_where_it_is(name):
    strategy = STRATEGIES.create(name)
    params = torch.linspace(-1, 1, 17)
    for round in range(3):
        new = strategy.server_step(params, torch.zeros(17), round)
        assert new.shape == params.shape and new.dtype == torch.float32
        torch.testing.assert_close(new, params)


@pytest.mark.parametrize("name", BUILT_IN)
def test_steps_along_the_aggregate(name):
    strategy = STRATEGIES.create(name)
    params, update = torch.zeros(5), torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
    step = strategy.server_step(params, update, 0) - params
    assert torch.isfinite(step).all()
    moved = update != 0
    assert (torch.sign(step[moved]) == torch.sign(update[moved])).all()
