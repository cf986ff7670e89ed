"""The built-in catalog generator: deterministic, any size, and faithful to its marginals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from fedarena.data.amazon import load_amazon
from fedarena.data.builtin import Marginals, generate_catalog, load_marginals
from fedarena.data.catalog import Catalog

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data" / "amazon-products-2023"
N_LARGE = 200_000
# Categories with at least this share of the items have enough of them for tight bounds.
LARGE_SHARE = 0.02


def quantile_cdf(x: np.ndarray, levels: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """The right-continuous CDF that inverse-CDF sampling from ``quantiles`` at ``levels`` has.

    Linear between quantiles, with point masses ``levels[0]`` at the first quantile,
    ``1 - levels[-1]`` at the last, and the mass of any run of equal quantiles.
    """
    i = np.searchsorted(quantiles, x, side="right") - 1
    inside = (i >= 0) & (i < len(levels) - 1)
    j = np.clip(i, 0, len(levels) - 2)
    step = quantiles[j + 1] - quantiles[j]
    slope = (levels[j + 1] - levels[j]) / np.where(step > 0, step, 1.0)
    linear = levels[j] + (x - quantiles[j]) * slope
    return np.where(inside, linear, np.where(i < 0, 0.0, 1.0))


def ks_to_quantiles(sample: np.ndarray, levels: np.ndarray, quantiles: np.ndarray) -> float:
    """Exact Kolmogorov-Smirnov distance between a sample and ``quantile_cdf``."""
    values = np.unique(sample)
    below = np.searchsorted(np.sort(sample), values, side="left") / len(sample)
    upto = np.searchsorted(np.sort(sample), values, side="right") / len(sample)
    before = np.nextafter(values, -np.inf)
    return float(
        max(
            np.abs(upto - quantile_cdf(values, levels, quantiles)).max(),
            np.abs(below - quantile_cdf(before, levels, quantiles)).max(),
        )
    )


def ks_counts_to_log_quantiles(
    counts: np.ndarray, levels: np.ndarray, log_quantiles: np.ndarray
) -> float:
    """Kolmogorov-Smirnov distance between counts and ``ceil(exp(x))`` with ``x`` from quantiles.

    That discretised distribution has ``P(n <= k) = quantile_cdf(log k)``, and
    steps only at whole numbers.
    """
    values = np.unique(counts)
    below = np.searchsorted(np.sort(counts), values, side="left") / len(counts)
    upto = np.searchsorted(np.sort(counts), values, side="right") / len(counts)
    with np.errstate(divide="ignore"):
        previous = np.log(values - 1.0)
    return float(
        max(
            np.abs(upto - quantile_cdf(np.log(values), levels, log_quantiles)).max(),
            np.abs(below - quantile_cdf(previous, levels, log_quantiles)).max(),
        )
    )


def ks_bound(n: int) -> float:
    """Critical KS distance for ``n`` draws at the 0.1% level, plus the JSON's rounding."""
    return 1.95 / np.sqrt(n) + 1e-3


def share_tolerance(p: np.ndarray | float, n: int) -> np.ndarray | float:
    """3.3 binomial standard deviations (0.1% two-sided) of a share ``p`` of ``n`` items."""
    return 3.3 * np.sqrt(p * (1 - p) / n) + 1e-3


def invariants_hold(catalog: Catalog) -> None:
    assert (catalog.price > 0).all() and (catalog.price <= catalog.list_price).all()
    assert ((catalog.discount >= 0) & (catalog.discount < 1)).all()
    np.testing.assert_allclose(catalog.price, catalog.list_price * (1 - catalog.discount))
    rated = catalog.has_rating
    assert ((catalog.rating[rated] >= 1) & (catalog.rating[rated] <= 5)).all()
    assert (catalog.n_ratings[rated] >= 1).all() and (catalog.n_ratings[~rated] == 0).all()
    assert len(set(catalog.item_id)) == len(catalog) == len(set(catalog.name))


@pytest.fixture(scope="module")
def marginals() -> Marginals:
    return load_marginals()


@pytest.fixture(scope="module")
def large() -> Catalog:
    return generate_catalog(N_LARGE, seed=7)


def large_categories(marginals: Marginals) -> list[int]:
    return [int(c) for c in np.flatnonzero(marginals.share >= LARGE_SHARE)]


def test_same_seed_same_catalog_other_seed_differs() -> None:
    first = generate_catalog(500, seed=3).to_frame()
    assert first.equals(generate_catalog(500, seed=3).to_frame())
    assert not first.equals(generate_catalog(500, seed=4).to_frame())


@pytest.mark.parametrize("n_items", [1, 2, 16, 17, 2_000, N_LARGE])
def test_any_size_keeps_the_invariants(n_items: int) -> None:
    catalog = generate_catalog(n_items, seed=1)
    assert len(catalog) == n_items
    assert catalog.item_id[0] == "G00000001"
    invariants_hold(catalog)


def test_rejects_an_empty_catalog() -> None:
    with pytest.raises(ValueError, match="n_items must be >= 1, got 0"):
        generate_catalog(0)


def test_names_number_items_within_their_sub_category() -> None:
    catalog = generate_catalog(300, seed=2)
    first = {sub: f"{catalog.sub_categories[sub]} item 1" for sub in set(catalog.sub_category)}
    assert set(first.values()) <= set(catalog.name)


@pytest.mark.parametrize("n_items", [17, 18, 100, 2_000])
def test_every_main_category_appears_once_there_is_room(n_items: int, marginals: Marginals) -> None:
    counts = np.bincount(generate_catalog(n_items).main_category, minlength=len(marginals.share))
    assert (counts >= 1).all() and counts.sum() == n_items


def test_fewer_items_than_categories_go_to_the_largest(marginals: Marginals) -> None:
    counts = np.bincount(generate_catalog(3).main_category, minlength=len(marginals.share))
    assert set(np.flatnonzero(counts)) == set(np.argsort(-marginals.share)[:3])


def test_committed_marginals_are_well_formed(marginals: Marginals) -> None:
    assert np.isclose(marginals.share.sum(), 1) and (marginals.share > 0).all()
    for table in (marginals.log_list_price, marginals.discount_positive, marginals.log_n_ratings):
        assert (np.diff(table, axis=1) >= 0).all()
    assert (marginals.discount_positive > 0).all() and (marginals.discount_positive < 1).all()
    assert (marginals.log_n_ratings >= 0).all()
    assert (marginals.rating_cdf[:, -1] == 1).all()


def test_category_mix_matches(large: Catalog, marginals: Marginals) -> None:
    counts = np.bincount(large.main_category, minlength=len(marginals.share))
    # Counts are apportioned, not sampled: off by less than one item each.
    assert (np.abs(counts - N_LARGE * marginals.share) < 1).all()
    for main in large_categories(marginals):
        mine = large.sub_category[large.main_category == main]
        width = (marginals.sub_cdf[main] < 1).sum() + 1
        expected = np.diff(marginals.sub_cdf[main, :width], prepend=0.0)
        observed = np.array([(mine == code).mean() for code in marginals.sub_code[main, :width]])
        tolerance = share_tolerance(expected, len(mine))
        assert (np.abs(observed - expected) < tolerance).all(), large.main_categories[main]


def test_prices_discounts_and_n_ratings_match_per_category(
    large: Catalog, marginals: Marginals
) -> None:
    levels = marginals.levels
    for main in large_categories(marginals):
        name = large.main_categories[main]
        mine = large.main_category == main
        log_list = np.log(large.list_price[mine])
        ks = ks_to_quantiles(log_list, levels, marginals.log_list_price[main])
        assert ks < ks_bound(mine.sum()), name
        discount = large.discount[mine]
        zero = marginals.discount_zero_share[main]
        assert abs((discount == 0).mean() - zero) < share_tolerance(zero, mine.sum()), name
        positive = discount[discount > 0]
        ks = ks_to_quantiles(positive, levels, marginals.discount_positive[main])
        assert ks < ks_bound(len(positive)), name
        missing = marginals.rating_missing_share[main]
        observed = 1 - large.has_rating[mine].mean()
        assert abs(observed - missing) < share_tolerance(missing, mine.sum()), name
        n_ratings = large.n_ratings[mine & large.has_rating]
        ks = ks_counts_to_log_quantiles(n_ratings, levels, marginals.log_n_ratings[main])
        assert ks < ks_bound(len(n_ratings)), name


def test_rating_histogram_matches_per_n_ratings_bucket(
    large: Catalog, marginals: Marginals
) -> None:
    rated = large.has_rating
    bucket = np.searchsorted(marginals.n_ratings_buckets, large.n_ratings[rated], "right") - 1
    step = np.rint(large.rating[rated] * 10).astype(int) - 10
    for b, expected in enumerate(marginals.rating_cdf):
        mine = step[bucket == b]
        observed = np.cumsum(np.bincount(mine, minlength=len(expected))) / len(mine)
        assert np.abs(observed - expected).max() < ks_bound(len(mine)), b


@pytest.fixture(scope="module")
def real() -> Catalog:
    if not SHARED.is_dir():
        pytest.skip(f"real Amazon data not present at {SHARED.resolve()}")
    return load_amazon(SHARED)[0]


def test_generated_catalog_resembles_the_real_data(large: Catalog, real: Catalog) -> None:
    assert large.main_categories == real.main_categories
    real_mix = np.bincount(real.main_category) / len(real)
    assert 0.5 * np.abs(np.bincount(large.main_category) / N_LARGE - real_mix).sum() < 1e-3
    assert abs(large.has_rating.mean() - real.has_rating.mean()) < 0.01
    assert abs((large.discount == 0).mean() - (real.discount == 0).mean()) < 0.01
    # Discounts compared to 0.01 percentage point: the committed quantiles keep 6 decimals.
    assert ks_2samp(large.discount.round(4), real.discount.round(4)).statistic < 0.02
    rating_ks = ks_2samp(large.rating[large.has_rating], real.rating[real.has_rating])
    assert rating_ks.statistic < 0.02
    for main in np.flatnonzero(real_mix >= LARGE_SHARE):
        name = real.main_categories[main]
        mine, real_mine = large.main_category == main, real.main_category == main
        ks = ks_2samp(np.log(large.list_price[mine]), np.log(real.list_price[real_mine]))
        assert ks.statistic < 0.04, name
        rated, real_rated = mine & large.has_rating, real_mine & real.has_rating
        ks = ks_2samp(large.n_ratings[rated], real.n_ratings[real_rated])
        assert ks.statistic < 0.04, name
