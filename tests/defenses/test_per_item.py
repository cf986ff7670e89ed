"""Coordinate-wise rules per item row, among the clients that sent the row (``per_item``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from defense_helpers import context

from fedarena.defenses import create_defense
from fedarena.defenses.coordinatewise import CoordinateWise
from fedarena.defenses.flame import Flame
from fedarena.defenses.item_norm_clip import ItemNormClip
from fedarena.defenses.krum import Krum
from fedarena.defenses.median import Median
from fedarena.defenses.trimmed_mean import TrimmedMean
from fedarena.errors import SpecError
from fedarena.model import ItemRows, SharedLayout
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from tiny import TINY

N_ITEMS, WIDTH, N_DENSE = 6, 3, 4
# Items own columns [4 + 3 i, 4 + 3 i + 3): the dense part comes first, as a layout may have.
ROWS = ItemRows(
    index=N_DENSE + np.arange(N_ITEMS * WIDTH).reshape(N_ITEMS, WIDTH),
    dense=np.arange(N_DENSE),
)
DIM = N_DENSE + N_ITEMS * WIDTH


def sparse_updates(n: int, seed: int) -> torch.Tensor:
    """Random updates in which each client sends a random subset of the items."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    sends = rng.random((n, N_ITEMS)) < 0.5
    sends[:, 0] = True  # every client sends item 0
    sends[:, 5] = False  # nobody sends item 5
    for item in range(N_ITEMS):
        x[np.ix_(~sends[:, item], ROWS.index[item])] = 0.0
    return torch.from_numpy(x)


def by_hand(x: torch.Tensor, per_row) -> np.ndarray:
    """The expected aggregate: ``per_row`` over each item's senders, and over all for the rest."""
    values = x.numpy().astype(np.float64)
    out = np.zeros(DIM)
    out[ROWS.dense] = per_row(values[:, ROWS.dense])
    for item in range(N_ITEMS):
        columns = ROWS.index[item]
        senders = (values[:, columns] != 0).any(axis=1)
        if senders.any():
            out[columns] = per_row(values[senders][:, columns])
    return out


def test_per_item_median_is_the_median_of_each_items_senders():
    x = sparse_updates(9, seed=1)
    out = Median(per_item=True, item_rows=ROWS).aggregate(x, torch.ones(9), context(x)).update
    np.testing.assert_allclose(out.numpy(), by_hand(x, lambda v: np.median(v, axis=0)), rtol=1e-6)
    assert (out[ROWS.index[5]] == 0).all()  # an item nobody sent does not move


@pytest.mark.parametrize("f", [0, 1, 3])
def test_per_item_trimmed_mean_trims_at_most_what_each_item_can_lose(f):
    x = sparse_updates(11, seed=2)

    def trimmed(values: np.ndarray) -> np.ndarray:
        k = len(values)
        cut = min(f, (k - 1) // 2)
        return np.sort(values, axis=0)[cut : k - cut].mean(axis=0)

    rule = TrimmedMean(f=f, per_item=True, item_rows=ROWS)
    out = rule.aggregate(x, torch.ones(11), context(x, f=f)).update
    np.testing.assert_allclose(out.numpy(), by_hand(x, trimmed), rtol=1e-5, atol=1e-7)


def test_per_item_trimmed_mean_with_beta_trims_a_share_of_each_items_senders():
    x = sparse_updates(12, seed=3)

    def trimmed(values: np.ndarray) -> np.ndarray:
        cut = int(0.25 * len(values))
        return np.sort(values, axis=0)[cut : len(values) - cut].mean(axis=0)

    rule = TrimmedMean(beta=0.25, per_item=True, item_rows=ROWS)
    out = rule.aggregate(x, torch.ones(12), context(x)).update
    np.testing.assert_allclose(out.numpy(), by_hand(x, trimmed), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("plain", "per_item"),
    [
        ("median", "median(per_item=true)"),
        ("trimmed_mean(f=2)", "trimmed_mean(f=2, per_item=true)"),
    ],
)
def test_when_every_client_sends_every_item_per_item_is_the_plain_rule(plain, per_item):
    x = torch.randn(10, DIM, generator=torch.Generator().manual_seed(4))
    expected = create_defense(plain).aggregate(x, torch.ones(10), context(x, f=2)).update
    rule = create_defense(per_item, item_rows=ROWS)
    out = rule.aggregate(x, torch.ones(10), context(x, f=2)).update
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-7)


def test_per_item_is_invariant_to_the_order_of_clients():
    x = sparse_updates(9, seed=5)
    rule = Median(per_item=True, item_rows=ROWS)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(6))
    a = rule.aggregate(x, torch.ones(9), context(x)).update
    b = rule.aggregate(x[perm], torch.ones(9), context(x[perm])).update
    assert torch.equal(a, b)


def test_an_item_only_attackers_send_is_theirs_while_shared_items_hold():
    """The documented weakness (Spattack): the breakdown point holds per item's senders."""
    x = sparse_updates(9, seed=7)
    x[:, ROWS.index[5]] = 0.0
    x[:2, ROWS.index[5]] = 1e6  # two attackers alone send item 5
    x[:2, ROWS.index[0]] = 1e6  # and push item 0, which everyone sends
    out = Median(per_item=True, item_rows=ROWS).aggregate(x, torch.ones(9), context(x)).update
    assert (out[ROWS.index[5]] == 1e6).all()
    assert out[ROWS.index[0]].abs().max() < 10


def test_a_non_finite_row_is_rejected_before_it_counts_as_a_sender():
    x = sparse_updates(9, seed=8)
    x[3, ROWS.index[2][0]] = float("nan")
    out = Median(per_item=True, item_rows=ROWS).aggregate(x, torch.ones(9), context(x))
    assert torch.isfinite(out.update).all()
    assert not out.accepted[3]
    kept = torch.cat([x[:3], x[4:]])
    again = Median(per_item=True, item_rows=ROWS).aggregate(kept, torch.ones(8), context(kept))
    assert torch.equal(out.update, again.update)


def test_per_item_without_item_rows_is_a_one_line_error():
    with pytest.raises(ValueError, match="per_item needs the model's item rows") as caught:
        Median(per_item=True)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="per_item must be true or false"):
        Median(per_item="yes", item_rows=ROWS)


def test_the_item_rows_of_the_tower_are_its_embedding_rows_and_biases():
    world = build_world(TINY)
    rows = ItemRows.of(world.layout)
    tables = world.layout.unflatten(torch.arange(world.layout.dim, dtype=torch.float64))
    for item in (0, 7, world.n_items - 1):
        expected = [*tables["item_embedding"][item].tolist(), float(tables["item_bias"][item])]
        assert rows.index[item].tolist() == expected
    assert len(rows.dense) + rows.index.size == world.layout.dim
    assert isinstance(world.layout, SharedLayout)


@pytest.mark.parametrize(
    ("plain", "per_item"),
    [
        ("median", "median(per_item=true)"),
        ("trimmed_mean(beta=0.1)", "trimmed_mean(beta=0.1, per_item=true)"),
        ("krum(f=2)", "krum(f=2, per_item=true)"),
    ],
)
def test_a_scenario_runs_per_item_rules_and_they_differ_from_the_plain_ones(plain, per_item):
    attacked = replace(TINY, defense=per_item, attack="sign_flip", malicious_fraction=0.2)
    sparse = run_scenario(attacked, compare_clean=False)
    dense = run_scenario(replace(attacked, defense=plain), compare_clean=False)
    assert sparse["final"]["ndcg@10"] != dense["final"]["ndcg@10"]
    assert 0 <= sparse["final"]["hr@10"] <= 1


def test_a_bad_per_item_value_in_a_scenario_names_the_defense():
    with pytest.raises(SpecError, match="per_item"):
        build_world(replace(TINY, defense="median(per_item=3)"))


def test_item_norm_clip_bounds_each_sent_row_and_leaves_the_rest():
    x = sparse_updates(7, seed=9)
    x[2, ROWS.index[1]] = torch.tensor([30.0, 40.0, 0.0])  # norm 50
    clip = ItemNormClip(max_norm=1.0, item_rows=ROWS)
    out = clip.preaggregate(x, torch.ones(7), context(x)).updates
    norms = out[:, ROWS.index].norm(dim=-1)
    assert float(norms.max()) <= 1.0 + 1e-6
    torch.testing.assert_close(out[2, ROWS.index[1]], torch.tensor([0.6, 0.8, 0.0]))
    assert torch.equal(out[:, ROWS.dense], x[:, ROWS.dense])  # shared parameters untouched
    small = x[:, ROWS.index].norm(dim=-1) <= 1.0
    assert torch.equal(out[:, ROWS.index][small], x[:, ROWS.index][small])


def test_item_norm_clip_adapts_to_the_median_norm_of_the_sent_rows():
    x = sparse_updates(7, seed=10)
    rows = x[:, ROWS.index].double()
    norms = rows.norm(dim=-1)
    bound = float(np.median(norms[norms > 0].numpy()))  # rows nobody sent do not count
    clip = ItemNormClip(item_rows=ROWS)
    result = clip.preaggregate(x, torch.ones(7), context(x))
    assert result.diagnostics["item_clip_norm"] == pytest.approx(bound)
    out_norms = result.updates[:, ROWS.index].double().norm(dim=-1)
    expected = torch.minimum(norms, torch.tensor(bound, dtype=torch.float64))
    torch.testing.assert_close(out_norms, expected, rtol=1e-6, atol=1e-7)


def test_item_norm_clip_needs_item_rows_and_a_positive_bound():
    with pytest.raises(ValueError, match="item_norm_clip needs the model's item rows"):
        ItemNormClip()
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        ItemNormClip(max_norm=0, item_rows=ROWS)


def test_a_scenario_chains_the_item_bound_before_an_aggregator():
    scenario = replace(
        TINY,
        defense="item_norm_clip(max_norm=0.05) > median(per_item=true)",
        attack="model_replacement",
        malicious_fraction=0.2,
    )
    result = run_scenario(scenario, compare_clean=False)
    assert 0 <= result["final"]["er@10"] <= 1
    assert result["spec"]["defense"] == str(scenario.defense)
    assert str(scenario.defense).startswith("item_norm_clip(max_norm=0.05) > median(per_item=")


def test_block_item_rows_are_the_towers_shape_and_cover_every_column_once():
    rows = ItemRows.blocks(40)
    assert rows.index.tolist() == [list(range(17)), list(range(17, 34))]
    assert rows.dense.tolist() == list(range(34, 40))
    assert ItemRows.blocks(5).index.shape == (0, 17)


@pytest.mark.parametrize("f", [0, 1, 2])
def test_per_item_krum_is_krum_over_each_items_senders(f):
    x = sparse_updates(9, seed=11)
    x[:, ROWS.index[3]] = 0.0
    x[4, ROWS.index[3]] = torch.tensor([1.0, 2.0, 3.0])  # one sender: its row is taken
    x[6, ROWS.index[3]] = torch.tensor([3.0, 2.0, 1.0])  # two senders: their mean
    out = Krum(f=f, per_item=True, item_rows=ROWS).aggregate(x, torch.ones(9), context(x, f=f))
    dense = Krum(f=f).aggregate(x[:, ROWS.dense], torch.ones(9), context(x, f=f))
    assert torch.equal(out.update[ROWS.dense], dense.update)
    assert torch.equal(out.accepted, dense.accepted)  # the verdict is the shared part's
    for item in range(N_ITEMS):
        columns = ROWS.index[item]
        senders = (x[:, columns] != 0).any(dim=1)
        rows, k = x[senders][:, columns], int(senders.sum())
        if k == 0:
            expected = torch.zeros(WIDTH)
        elif k <= 2:
            expected = rows.mean(dim=0)
        else:
            f_k = min(f, (k - 3) // 2)
            expected = Krum(f=f_k).aggregate(rows, torch.ones(k), context(rows, f=f_k)).update
        torch.testing.assert_close(out.update[columns], expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(out.update[ROWS.index[3]], torch.tensor([2.0, 2.0, 2.0]))


def test_per_item_krum_is_invariant_to_the_order_of_clients():
    x = sparse_updates(11, seed=12)
    rule = Krum(f=2, per_item=True, item_rows=ROWS)
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(13))
    a = rule.aggregate(x, torch.ones(11), context(x, f=2))
    b = rule.aggregate(x[perm], torch.ones(11), context(x[perm], f=2))
    assert torch.equal(a.update, b.update)
    assert torch.equal(a.accepted[perm], b.accepted)


def test_a_coordinate_wise_plugin_without_a_per_item_form_still_builds_and_says_so():
    class Lowest(CoordinateWise):
        def from_sorted(self, columns, ctx):
            return torch.from_numpy(columns[0].astype(np.float32))

    x = sparse_updates(5, seed=14)
    plain = Lowest()
    assert torch.equal(plain.aggregate(x, torch.ones(5), context(x)).update, x.min(dim=0).values)
    with pytest.raises(ValueError, match="Lowest has no per_item form"):
        Lowest().set_per_item(True, ROWS)


def test_per_item_flame_is_flame_over_each_items_senders():
    x = sparse_updates(10, seed=14)
    x[7, ROWS.index[2]] = torch.tensor([-40.0, 30.0, -50.0])  # an outlier among item 2's senders
    weights = torch.arange(1.0, 11.0)
    out = Flame(noise=0.0, per_item=True, item_rows=ROWS).aggregate(x, weights, context(x))
    dense = Flame(noise=0.0).aggregate(x[:, ROWS.dense], weights, context(x))
    torch.testing.assert_close(out.update[ROWS.dense], dense.update)
    assert torch.equal(out.accepted, dense.accepted)  # the verdict is the shared part's
    for item in range(N_ITEMS):
        columns = ROWS.index[item]
        senders = (x[:, columns] != 0).any(dim=1)
        if not senders.any():
            assert not out.update[columns].any()
            continue
        rows = x[senders][:, columns]
        expected = Flame(noise=0.0).aggregate(rows, weights[senders], context(rows)).update
        torch.testing.assert_close(out.update[columns], expected, rtol=1e-5, atol=1e-6)


def test_per_item_flame_noise_scales_with_each_items_bound_and_spares_unsent_items():
    x = sparse_updates(10, seed=15)
    x[:, ROWS.index[1]] *= 1000.0  # item 1's rows, hence its clipping bound, 1000x larger
    quiet = Flame(noise=0.0, per_item=True, item_rows=ROWS).aggregate(x, torch.ones(10), context(x))
    noisy = Flame(noise=0.1, per_item=True, item_rows=ROWS).aggregate(x, torch.ones(10), context(x))
    change = (noisy.update - quiet.update).double()
    assert not change[ROWS.index[5]].any()  # nobody sent item 5
    assert change[ROWS.index[1]].norm() > 50 * change[ROWS.index[0]].norm()
