"""Properties every registered defense must have: the non-finite policy, shapes,
permutation invariance, and bounded output under f huge outliers where the rule's
breakdown point allows."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
from defense_helpers import context, random_updates

from fedarena.defenses import DEFENSES, UsesRootSet, create_defense
from fedarena.defenses.base import OUTLIER_PATTERNS, tuning_grid_of
from fedarena.model import ItemRows
from fedarena.registry import ComponentSpec, accepted_options

N, D, F = 12, 40, 2
# For the rules that take a model's item rows: ten items of three columns, and ten columns
# every item shares, as the tower has both.
ROWS = ItemRows(index=np.arange(30).reshape(10, 3), dense=np.arange(30, D))
# Every rule in fedarena's own package, found by the registry: a new file is tested at once.
BUILT_IN = [name for name, origin in DEFENSES.origins().items() if origin.startswith("fedarena.")]


def _declared(name: str):
    return DEFENSES.factory(name)


BOUNDED_CASES = [
    (name, pattern)
    for name in BUILT_IN
    for pattern in sorted(getattr(_declared(name), "bounded_against", ()))
]
UNBOUNDED = [name for name in BUILT_IN if not getattr(_declared(name), "bounded_against", ())]
PERMUTATION_INVARIANT = [
    name for name in BUILT_IN if getattr(_declared(name), "permutation_invariant", True)
]


def _run(name: str, updates: torch.Tensor, ids=None, seed: int = 0):
    defense = create_defense(name, item_rows=ROWS)
    ctx = context(updates, f=F, seed=seed)
    if ids is not None:
        ctx = dataclasses.replace(ctx, client_ids=ids)
    if isinstance(defense, UsesRootSet):
        reference = random_updates(1, updates.shape[1], seed=99)[0]
        ctx = dataclasses.replace(ctx, server_update=lambda: reference)
    weights = torch.arange(1, len(updates) + 1, dtype=torch.float32)
    if ids is not None:
        weights = torch.as_tensor(ids, dtype=torch.float32) + 1
    return defense.aggregate(updates, weights, ctx)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_rule_declares_only_known_outlier_patterns(name):
    assert set(getattr(_declared(name), "bounded_against", ())) <= OUTLIER_PATTERNS


@pytest.mark.parametrize("name", BUILT_IN)
def test_nan_and_inf_rows_are_rejected_and_flagged(name):
    x = random_updates(N, D, seed=1)
    x[3, 5] = float("nan")
    x[7, 0] = float("inf")
    x[9, 1] = float("-inf")
    out = _run(name, x)
    assert out.update.shape == (D,) and out.update.dtype == torch.float32
    assert torch.isfinite(out.update).all()
    assert out.accepted is not None
    assert not out.accepted[[3, 7, 9]].any()
    assert out.diagnostics["rejected_nonfinite"] == 3


@pytest.mark.parametrize("name", BUILT_IN)
def test_nothing_finite_gives_the_zero_update(name):
    x = torch.full((N, D), float("nan"))
    out = _run(name, x)
    assert torch.equal(out.update, torch.zeros(D))
    assert not out.accepted.any()


@pytest.mark.parametrize("name", BUILT_IN)
def test_updates_near_the_float32_limit_never_give_nan(name):
    x = random_updates(N, D, seed=2)
    x[:F] = 5e37  # finite, norm 3.2e38: squares and sums overflow float32
    out = _run(name, x)
    assert torch.isfinite(out.update).all()


@pytest.mark.parametrize("name", PERMUTATION_INVARIANT)
def test_permutation_invariance(name):
    x = random_updates(N, D, seed=3)
    ids = torch.arange(N).numpy()
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(4))
    a = _run(name, x, ids)
    b = _run(name, x[perm], ids[perm.numpy()])
    torch.testing.assert_close(a.update, b.update, atol=1e-5, rtol=1e-5)
    if a.accepted is not None:
        assert torch.equal(a.accepted[perm], b.accepted)


@pytest.mark.parametrize("name, direction", BOUNDED_CASES)
def test_f_outliers_of_norm_1e6_cannot_drag_the_output_away(name, direction):
    x = random_updates(N, D, seed=5)
    g = torch.Generator().manual_seed(6)
    directions = torch.randn(1 if direction == "coordinated" else F, D, generator=g)
    x[:F] = 1e6 * directions / directions.norm(dim=1, keepdim=True)
    out = _run(name, x)
    benign_norm = float(x[F:].norm(dim=1).max())
    assert float(out.update.norm()) < 2 * benign_norm


@pytest.mark.parametrize("name", UNBOUNDED)
def test_rules_declared_unbounded_are_dragged_by_one_outlier(name):
    x = random_updates(N, D, seed=5)
    x[0] = 1e6
    assert float(_run(name, x).update.norm()) > 1e3, (
        f"{name} resists an outlier: declare bounded_against on its class"
    )


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_setting_of_the_tuning_grid_builds_the_defense(name):
    """A matrix with ``tune = true`` runs each setting: a small grid of real options whose
    values are all in range, so no tuned cell is skipped for a bad value."""
    factory = DEFENSES.factory(name)
    grid = tuning_grid_of(factory)
    assert set(grid) <= set(accepted_options(factory)) and len(grid) <= 2
    assert all(
        2 <= len(values) <= 4 and len(set(values)) == len(values) for values in grid.values()
    )
    assert math.prod(len(values) for values in grid.values()) <= 9
    for values in itertools.product(*grid.values()):
        spec = ComponentSpec(name, dict(zip(grid, values, strict=True)))
        built = create_defense(str(spec), n_clients=N, n_malicious=F, item_rows=ROWS)
        assert built is not None


@pytest.mark.parametrize(
    "name, option",
    [
        ("norm_clip", "max_norm"),
        ("trimmed_mean", "beta"),
        ("centered_clipping", "tau"),
        ("dp_sgd", "noise_multiplier"),
        ("dp_sgd", "max_grad_norm"),
        ("flame", "noise"),
    ],
)
def test_the_key_hyperparameters_are_in_the_tuning_grids(name, option):
    assert option in tuning_grid_of(DEFENSES.factory(name))


COLUMNWISE = [name for name in BUILT_IN if getattr(_declared(name), "columnwise", False)]


def test_the_mean_is_declared_column_wise():
    assert "fedavg" in COLUMNWISE


@pytest.mark.parametrize("name", COLUMNWISE)
def test_a_column_wise_rule_reads_each_column_alone(name):
    """What ``columnwise`` promises the engine, which then hands the rule only the columns
    some client changed: the same values on those columns, zeros elsewhere. The same up to
    the last bits: BLAS's ``w @ X`` may sum a column in another order when it is given
    another number of columns (on an AVX-512 CPU; an AVX2 CPU gives the same bits), while a
    rule that read other columns would be off by far more than a few float32 ulps."""
    x = random_updates(N, D, seed=3)
    kept = torch.tensor([1, 4, 9, 22, 35])
    whole, part = _run(name, x), _run(name, x[:, kept])
    torch.testing.assert_close(whole.update[kept], part.update, rtol=1e-6, atol=1e-7)
    assert part.accepted is None and part.suspicion is None
    zero_elsewhere = torch.zeros(N, D)
    zero_elsewhere[:, kept] = x[:, kept]
    expanded = torch.zeros(D)
    expanded[kept] = part.update
    on_zeros = _run(name, zero_elsewhere).update
    torch.testing.assert_close(on_zeros, expanded, rtol=1e-6, atol=1e-7)
    assert torch.equal(on_zeros[expanded == 0], expanded[expanded == 0])
