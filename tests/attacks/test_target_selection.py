"""Default targets: rarely bought items, fixed by the seed alone."""

from __future__ import annotations

import numpy as np
import pytest

from fedarena.attacks import ATTACKS
from fedarena.attacks.targets import PromotionTargets, purchase_counts, rarely_bought


def _population_buying_item_i_i_times(tiny_population, n_items=20):
    # Shopper j buys every item i > j, so item i is bought exactly i times; item 0 never.
    logs = [(list(range(n_items)), [float(i > j) for i in range(n_items)]) for j in range(n_items)]
    return tiny_population(logs)


def test_purchase_counts(tiny_population):
    population = _population_buying_item_i_i_times(tiny_population)
    assert purchase_counts(population, 22).tolist() == [*range(20), 0, 0]


def test_targets_come_from_the_least_bought_tenth(tiny_population):
    population = _population_buying_item_i_i_times(tiny_population)
    # 20 items: the pool is the ceil(2.0) = 2 least bought, items 0 and 1.
    for seed in range(10):
        rng = np.random.default_rng(seed)
        assert rarely_bought(population, 20, 1, rng)[0] in (0, 1)
    assert rarely_bought(population, 20, 2, np.random.default_rng(0)).tolist() == [0, 1]


def test_more_targets_than_the_pool_widens_it_to_the_next_least_bought(tiny_population):
    population = _population_buying_item_i_i_times(tiny_population)
    assert rarely_bought(population, 20, 3, np.random.default_rng(0)).tolist() == [0, 1, 2]


def test_default_targets_depend_on_the_seed_only(population, catalog):
    a = PromotionTargets(seed=1).choose(population, len(catalog))
    b = PromotionTargets(seed=1).choose(population, len(catalog))
    others = {int(PromotionTargets(seed=s).choose(population, len(catalog))[0]) for s in range(8)}
    assert np.array_equal(a, b) and len(others) > 1
    counts = purchase_counts(population, len(catalog))
    assert counts[a[0]] <= np.quantile(counts, 0.1)


def test_n_targets_distinct_sorted_items(population, catalog):
    targets = PromotionTargets(n_targets=3, seed=0).choose(population, len(catalog))
    assert len(set(targets.tolist())) == 3 and np.all(np.diff(targets) > 0)


def test_drawn_targets_are_unknown_before_enrolment():
    with pytest.raises(RuntimeError, match="drawn at enrolment"):
        _ = ATTACKS.create("model_replacement").target_items


@pytest.mark.parametrize(
    "options, message",
    [
        ("targets=[]", "non-empty list"),
        ("targets=[-1]", ">= 0"),
        ("targets=[1.5]", "non-empty list of item indices"),
        ("n_targets=0", "n_targets must be an integer >= 1"),
    ],
)
def test_bad_target_options(options, message):
    from fedarena.errors import SpecError

    with pytest.raises(SpecError, match=message):
        ATTACKS.create(f"model_replacement({options})")
