"""Small, fast fixtures shared by the tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.data.builtin import generate_catalog
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population, PopulationConfig, simulate_population
from fedarena.model import ItemTower, SharedLayout, init_user_embeddings

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return generate_catalog(400, seed=0)


@pytest.fixture(scope="session")
def population(catalog: Catalog) -> Population:
    return simulate_population(catalog, PopulationConfig(n_shoppers=80), seed=0)


@pytest.fixture()
def model(catalog: Catalog, population: Population):
    """A freshly initialised tower, its layout, flat parameters and user embeddings."""
    generator = torch.Generator().manual_seed(0)
    tower = ItemTower(catalog, dim=8)
    tower.reset_parameters(generator)
    layout = SharedLayout.of(tower)
    users = init_user_embeddings(len(population), 8, generator)
    return tower, layout, layout.flatten(tower), users


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
