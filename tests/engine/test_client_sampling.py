"""Epoch sampling: every shopper once an epoch, in rounds of clients_per_round."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fedarena.errors import SpecError
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from fedarena.strategies.base import epoch_batch, rounds_per_epoch
from tiny import TINY


@pytest.mark.parametrize("n, per_round", [(671, 100), (60, 10), (7, 7), (5, 2)])
def test_every_client_trains_once_an_epoch(n, per_round):
    per_epoch = rounds_per_epoch(n, per_round)
    assert per_epoch == -(-n // per_round)
    for epoch in range(3):
        batches = [epoch_batch(n, per_round, epoch * per_epoch + b, 4) for b in range(per_epoch)]
        assert [len(b) for b in batches[:-1]] == [per_round] * (per_epoch - 1)
        assert len(batches[-1]) == n - per_round * (per_epoch - 1)
        assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(n))
        assert all(np.array_equal(b, np.sort(b)) for b in batches)


def test_the_order_changes_with_the_epoch_and_the_seed_and_nothing_else():
    first = epoch_batch(671, 100, 0, 0)
    assert np.array_equal(first, epoch_batch(671, 100, 0, 0))
    assert not np.array_equal(first, epoch_batch(671, 100, 7, 0))  # epoch 1's first round
    assert not np.array_equal(first, epoch_batch(671, 100, 0, 1))


def test_a_run_samples_by_epoch_and_keeps_its_key_at_the_default():
    scenario = replace(TINY, client_sampling="epochs", rounds=12)
    world = build_world(scenario)
    federation = world.federation(users=world.init_users.clone())
    n = len(federation.population)
    per_epoch = rounds_per_epoch(n, scenario.clients_per_round)
    seen = np.concatenate([federation.plan_round(r).clients for r in range(per_epoch)])
    assert np.array_equal(np.sort(seen), np.arange(n))
    result = run_scenario(scenario)
    sampled = [r["n_sampled"] for r in result["rounds"]]
    assert sum(sampled[:per_epoch]) == n
    assert "client_sampling" not in TINY.to_dict()
    assert scenario.to_dict()["client_sampling"] == "epochs"


def test_an_unknown_sampling_is_a_one_line_error():
    with pytest.raises(SpecError, match="client_sampling must be one of uniform, epochs"):
        replace(TINY, client_sampling="poisson")
