"""The population cache returns exactly what the simulation builds, and survives bad files."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from fedarena.data import cache
from fedarena.data.shoppers import PopulationConfig, simulate_population


@pytest.fixture()
def cached(tmp_path):
    cache.use(tmp_path)
    yield tmp_path
    cache.use(None)


def _assert_same(a, b):
    for field in fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, field.name
            assert np.array_equal(x, y), field.name
        else:
            assert x == y, field.name


def test_a_stored_population_equals_the_built_one_bit_for_bit(catalog, cached):
    config = PopulationConfig(n_shoppers=60)
    built = cache.population(catalog, config, seed=4)
    assert len(list(cached.glob("population-*.npz"))) == 1
    loaded = cache.population(catalog, config, seed=4)
    _assert_same(simulate_population(catalog, config, 4), built)
    _assert_same(built, loaded)


def test_the_key_changes_with_seed_options_and_catalog(catalog):
    config = PopulationConfig(n_shoppers=60)
    key = cache.population_key(catalog, config, 0)
    assert key == cache.population_key(catalog, config, 0)
    assert key != cache.population_key(catalog, config, 1)
    assert key != cache.population_key(catalog, replace(config, alpha=1.0), 0)
    assert key != cache.population_key(catalog.take(np.arange(len(catalog) - 1)), config, 0)


def test_an_unreadable_file_is_rebuilt_and_replaced(catalog, cached):
    config = PopulationConfig(n_shoppers=60)
    path = cached / f"population-{cache.population_key(catalog, config, 2)}.npz"
    path.write_bytes(b"not a zip file")
    rebuilt = cache.population(catalog, config, seed=2)
    _assert_same(simulate_population(catalog, config, 2), rebuilt)
    _assert_same(rebuilt, cache.population(catalog, config, seed=2))


def test_an_unwritable_folder_only_costs_a_rebuild(catalog, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache.use(blocker / "worlds")  # a folder under a file cannot be made
    try:
        config = PopulationConfig(n_shoppers=60)
        _assert_same(simulate_population(catalog, config, 0), cache.population(catalog, config, 0))
    finally:
        cache.use(None)
