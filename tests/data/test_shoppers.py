"""Properties of the simulated shoppers and their train/test split."""

from __future__ import annotations

import numpy as np
import pytest

from fedarena.data import negatives
from fedarena.data.builtin import generate_catalog
from fedarena.data.noniid import js_divergence, noniid_stats
from fedarena.data.personas import PERSONA_NAMES, PERSONAS
from fedarena.data.shoppers import PopulationConfig, _sample_negatives, simulate_population
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


def assert_negatives_never_interacted(population, k):
    """Every case's negatives: ``k`` distinct sorted items, none in its shopper's training
    log (bought or browsed) nor among its held-out purchases."""
    assert population.test_items.shape == (len(population.test_shopper), 1 + k)
    for shopper, row in zip(population.test_shopper, population.test_items, strict=True):
        touched = set(population.train_log(shopper)[0].tolist())
        touched |= set(population.test_items[population.test_shopper == shopper, 0].tolist())
        negatives = row[1:]
        assert not touched & set(negatives.tolist())
        assert (np.diff(negatives) > 0).all()


def test_negatives_are_distinct_and_never_bought_nor_browsed(population):
    assert (population.train_labels < 0.5).any(), "the fixture must hold browsed items"
    assert_negatives_never_interacted(population, 99)


@pytest.mark.parametrize("n_items, k", [(200, 99), (400, 5), (400, 0)])
def test_every_case_has_n_eval_negatives_never_interacted(n_items, k):
    config = PopulationConfig(n_shoppers=40, n_eval_negatives=k)
    population = simulate_population(generate_catalog(n_items, seed=0), config, seed=1)
    assert_negatives_never_interacted(population, k)


def test_negatives_are_deterministic_in_the_seed_and_blind_to_the_block_size(catalog, monkeypatch):
    first = simulate_population(catalog, PopulationConfig(n_shoppers=30), seed=5).test_items
    again = simulate_population(catalog, PopulationConfig(n_shoppers=30), seed=5).test_items
    assert np.array_equal(first, again)
    monkeypatch.setattr(negatives, "BLOCK", len(catalog))  # one case per block
    blocked = simulate_population(catalog, PopulationConfig(n_shoppers=30), seed=5).test_items
    assert np.array_equal(first, blocked)


def test_negatives_are_uniform_over_never_interacted_items():
    n_cases, n_items, k = 4000, 10, 2
    ptr, touched = np.array([0, 2]), np.array([3, 7])
    negatives = _sample_negatives(
        np.zeros(n_cases, dtype=np.int64), ptr, touched, n_items, k, np.random.default_rng(3)
    )
    counts = np.bincount(negatives.ravel(), minlength=n_items)
    assert counts[[3, 7]].tolist() == [0, 0]
    expected = n_cases * k / (n_items - 2)  # 1000 each, sd about 30
    assert np.abs(np.delete(counts, [3, 7]) - expected).max() < 5 * np.sqrt(expected)


def test_negatives_are_the_whole_complement_when_just_enough_remain():
    ptr, touched = np.array([0, 4, 4]), np.array([7, 1, 5, 3])  # shopper 1 touched nothing
    negatives = _sample_negatives(
        np.array([0, 1, 0]), ptr, touched, 10, 6, np.random.default_rng(0)
    )
    assert negatives[0].tolist() == negatives[2].tolist() == [0, 2, 4, 6, 8, 9]
    assert len(set(negatives[1].tolist())) == 6
    with pytest.raises(FedarenaError, match="shopper 0 interacted with 4 of 10 items, leaving 6"):
        _sample_negatives(np.array([1, 0]), ptr, touched, 10, 7, np.random.default_rng(0))


def test_shopper_who_browsed_too_much_of_the_catalog_is_an_error_naming_the_sizes():
    config = PopulationConfig(n_shoppers=20, alpha=50.0, browse_mean=400.0)
    with pytest.raises(FedarenaError, match=r"interacted with \d+ of 200 items, leaving \d+;.*99"):
        simulate_population(generate_catalog(200, seed=0), config, seed=0)


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


@pytest.mark.parametrize(
    "field, value",
    [("n_shoppers", 0), ("alpha", 0.0), ("alpha", -1.0), ("n_eval_negatives", -1)],
)
def test_bad_population_config(field, value):
    with pytest.raises(FedarenaError, match=field.split("_")[-1]):
        PopulationConfig(**{field: value})


def test_catalog_too_small_for_evaluation():
    with pytest.raises(FedarenaError, match="at least 200"):
        simulate_population(generate_catalog(150, seed=0), PopulationConfig(n_shoppers=5), 0)
