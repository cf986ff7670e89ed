"""Properties of the simulated shoppers and their train/test split."""

from __future__ import annotations

import numpy as np
import pytest

from fedarena.data.builtin import generate_catalog
from fedarena.data.noniid import js_divergence, noniid_stats
from fedarena.data.personas import PERSONA_NAMES, PERSONAS
from fedarena.data.shoppers import PopulationConfig, simulate_population
from fedarena.errors import FedarenaError


def test_same_seed_same_population(catalog):
    a = simulate_population(catalog, PopulationConfig(n_shoppers=50), seed=3)
    b = simulate_population(catalog, PopulationConfig(n_shoppers=50), seed=3)
    c = simulate_population(catalog, PopulationConfig(n_shoppers=50), seed=4)
    assert np.array_equal(a.train_items, b.train_items)
    assert np.array_equal(a.test_items, b.test_items)
    assert not np.array_equal(a.train_items[:50], c.train_items[:50])


def test_eleven_personas_balanced(population):
    assert PERSONA_NAMES == (
        "ratermax",
        "ratermed",
        "impulsivemax",
        "valuerater",
        "midvalue",
        "impulsivemid",
        "middiscount",
        "saverpro",
        "savermed",
        "saverfree",
        "socialproof",
    )
    counts = np.bincount(population.persona, minlength=len(PERSONAS))
    assert counts.max() - counts.min() <= 1 + population.n_excluded


def test_no_held_out_purchase_in_training(population):
    for s in range(len(population)):
        items, labels = population.train_log(s)
        held_out = population.test_items[population.test_shopper == s, 0]
        assert len(held_out) >= 1
        assert not np.isin(held_out, items).any()
        assert labels.sum() >= 1, "every kept shopper trains on at least one purchase"


def test_negatives_are_distinct_and_never_bought(population):
    bought = {
        s: set(population.train_log(s)[0][population.train_log(s)[1] > 0.5])
        | set(population.test_items[population.test_shopper == s, 0])
        for s in range(len(population))
    }
    for shopper, row in zip(population.test_shopper, population.test_items, strict=True):
        negatives = row[1:]
        assert len(negatives) == 99 and len(set(negatives)) == 99
        assert not bought[shopper] & set(negatives)


def test_shoppers_with_fewer_than_two_purchases_are_excluded_and_counted(catalog):
    config = PopulationConfig(n_shoppers=200, browse_mean=2.0, min_browse=1)
    population = simulate_population(catalog, config, seed=0)
    assert population.n_excluded > 0
    assert len(population) + population.n_excluded == 200


def test_small_alpha_is_more_non_iid(catalog):
    skewed = simulate_population(catalog, PopulationConfig(n_shoppers=100, alpha=0.05), seed=0)
    mixed = simulate_population(catalog, PopulationConfig(n_shoppers=100, alpha=50.0), seed=0)
    assert (
        noniid_stats(skewed, catalog)["js_divergence_mean"]
        > 2 * noniid_stats(mixed, catalog)["js_divergence_mean"]
    )


def test_js_divergence_known_values():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.0, 1.0], [0.5, 0.5]])
    assert js_divergence(p, q) == pytest.approx([1.0, 0.0])


def test_ten_thousand_shoppers():
    population = simulate_population(
        generate_catalog(2000, seed=0), PopulationConfig(n_shoppers=10_000), seed=0
    )
    assert len(population) + population.n_excluded == 10_000
    assert population.train_ptr[-1] == len(population.train_items)


@pytest.mark.parametrize("field, value", [("n_shoppers", 0), ("alpha", 0.0), ("alpha", -1.0)])
def test_bad_population_config(field, value):
    with pytest.raises(FedarenaError, match=field.split("_")[-1]):
        PopulationConfig(**{field: value})


def test_catalog_too_small_for_evaluation():
    with pytest.raises(FedarenaError, match="at least 200"):
        simulate_population(generate_catalog(150, seed=0), PopulationConfig(n_shoppers=5), 0)
