"""Spattack: cancelled rows (O), one fixed row per item (L), popularity-sampled item sets (S)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedarena.attacks import ATTACKS, AttackContext
from fedarena.attacks.spattack import Spattack
from fedarena.errors import SpecError
from fedarena.model import ItemRows
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from tiny import TINY

N_ITEMS, DIM = 8, 3


def _updates(n: int = 6, seed: int = 0) -> torch.Tensor:
    """n sparse updates: each client sends rows for a few items only."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randn(n, N_ITEMS, DIM, generator=g)
    rows[torch.rand(n, N_ITEMS, generator=g) < 0.6] = 0.0
    return rows.reshape(n, -1)


def _ctx(updates: torch.Tensor, malicious: torch.Tensor, seed: int = 1) -> AttackContext:
    return AttackContext(
        round=0,
        global_params=torch.zeros(N_ITEMS * DIM),
        n_clients=len(updates),
        server_gain=1.0,
        generator=torch.Generator().manual_seed(seed),
        benign_updates=updates[~malicious],
    )


ROWS = ItemRows(index=np.arange(N_ITEMS * DIM).reshape(N_ITEMS, DIM), dense=np.zeros(0, int))


def _attack(**options) -> Spattack:
    attack = Spattack(item_rows=ROWS, **options)
    attack.popularity = torch.tensor([5.0, 0.0, 1.0, 3.0, 0.0, 2.0, 8.0, 1.0], dtype=torch.float64)
    return attack


MALICIOUS = torch.tensor([False, True, False, False, True, True])


@pytest.mark.parametrize("items", ["all", "sampled"])
def test_omniscient_rows_cancel_every_benign_row_they_cover(items):
    updates = _updates()
    sent = (
        torch.stack(
            _attack(knowledge="omniscient", items=items).craft(
                updates, MALICIOUS, _ctx(updates, MALICIOUS)
            )
        )
        .double()
        .reshape(6, N_ITEMS, DIM)
    )
    covered = (sent[MALICIOUS] != 0).any(dim=-1).any(dim=0)
    assert covered.any()
    total = sent.sum(dim=0)
    torch.testing.assert_close(total[covered], torch.zeros_like(total[covered]), atol=1e-6, rtol=0)
    benign = updates[~MALICIOUS].double().reshape(-1, N_ITEMS, DIM)
    torch.testing.assert_close(total[~covered], benign.sum(dim=0)[~covered])  # left as sent
    torch.testing.assert_close(sent[~MALICIOUS], benign)


def test_every_malicious_client_sends_one_fixed_row_per_item_in_every_round():
    attack = _attack(row_norm=0.5)
    first = attack.craft(_updates(), MALICIOUS, _ctx(_updates(), MALICIOUS, seed=1))
    later = attack.craft(_updates(seed=3), MALICIOUS, _ctx(_updates(seed=3), MALICIOUS, seed=9))
    rows = torch.stack(first)[MALICIOUS].reshape(3, N_ITEMS, DIM)
    assert torch.equal(rows[0], rows[1]) and torch.equal(rows[0], rows[2])
    assert torch.equal(rows, torch.stack(later)[MALICIOUS].reshape(3, N_ITEMS, DIM))
    torch.testing.assert_close(rows.norm(dim=-1), torch.full((3, N_ITEMS), 0.5))
    assert not torch.equal(
        rows[0], Spattack(row_norm=0.5, seed=1).fixed_rows((N_ITEMS, DIM)).float() * 0.5
    )


def test_the_auto_row_is_as_long_as_the_largest_honest_row():
    updates = _updates()
    sent = torch.stack(_attack().craft(updates, MALICIOUS, _ctx(updates, MALICIOUS)))
    longest = updates[MALICIOUS].reshape(-1, DIM).norm(dim=1).max()
    torch.testing.assert_close(sent[MALICIOUS].reshape(-1, DIM).norm(dim=1).max(), longest)


def test_sampled_sets_are_as_large_as_the_largest_honest_update_and_popular():
    attack, updates = _attack(items="sampled"), _updates()
    honest = updates[MALICIOUS].reshape(3, N_ITEMS, DIM)
    sets = attack.item_sets(honest, 4, torch.Generator().manual_seed(0))
    largest = int((honest != 0).any(dim=-1).sum(dim=1).max())
    assert (sets.sum(dim=1) == min(largest, 6)).all()
    assert not sets[:, [1, 4]].any()  # items no one interacted with are never drawn


def test_popularity_is_counted_from_the_training_logs(population, catalog):
    attack = ATTACKS.create("spattack(items=sampled)", seed=0, catalog=catalog)
    attack.enrol(population, catalog, 3, np.random.default_rng(0))
    expected = np.bincount(population.train_items, minlength=len(catalog))
    assert np.array_equal(attack.popularity.numpy(), expected)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("spattack(items=some)", "items must be one of all, sampled"),
        ("spattack(knowledge=none)", "knowledge must be one of omniscient, own"),
        ("spattack(row_norm=-1)", "row_norm must be 'auto' or a number > 0"),
        ("spattack(knowledge=omniscient, row_norm=1.0)", "row_norm applies to knowledge=own"),
    ],
)
def test_bad_options_are_one_line_errors(spec, message):
    with pytest.raises((ValueError, SpecError), match=message):
        ATTACKS.create(spec, seed=0)


@pytest.mark.parametrize("model", ["mf", "tower"])
def test_it_runs_in_a_federation_with_per_item_median(model):
    scenario = replace(
        TINY,
        model=model,
        attack="spattack(knowledge=omniscient, items=sampled)",
        malicious_fraction=0.2,
        defense="median(per_item=true)",
    )
    result = run_scenario(scenario)
    assert result["attack"]["knowledge"] == "omniscient"
    assert {"hr@10_drop", "ndcg@10_drop"} <= set(result["final"])


def test_on_the_tower_it_sends_item_rows_and_its_honest_shared_part():
    world = build_world(replace(TINY, attack="spattack(row_norm=0.5)", malicious_fraction=0.2))
    rows = ItemRows.of(world.layout)
    honest = torch.randn(3, world.layout.dim, generator=torch.Generator().manual_seed(0))
    malicious = torch.tensor([True, False, True])
    sent = torch.stack(world.attack.craft(honest, malicious, _ctx(honest, malicious)))
    torch.testing.assert_close(sent[malicious][:, rows.dense], honest[malicious][:, rows.dense])
    item_norms = sent[malicious][:, rows.index].norm(dim=-1)
    torch.testing.assert_close(item_norms, torch.full_like(item_norms, 0.5))
