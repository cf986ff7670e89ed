"""The built-in catalog: synthetic items that look like the real Amazon.in scrape.

Every column is sampled from marginals measured on the Amazon Products Sales
Dataset 2023 by ``scripts/calibrate_catalog.py`` and shipped as package data
(``amazon_marginals.json``), so a fresh install needs no download. Per main
category it keeps the sub-category mix, the list price, the discount, the share
of unrated items and the number of ratings; the rating depends on the number of
ratings (an item with one rating has an integer rating, mostly 5.0 or 1.0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from fedarena.data.catalog import Catalog

MARGINALS_FILE = "amazon_marginals.json"


@dataclass(frozen=True)
class Marginals:
    """The contents of ``amazon_marginals.json`` as arrays, one row per main category.

    Quantile rows are at the shared probability ``levels``; sampling by inverse
    CDF interpolates linearly between them and clamps outside them.
    """

    main_categories: tuple[str, ...]
    share: np.ndarray  # (n_main,), sums to 1
    sub_categories: tuple[str, ...]
    sub_cdf: np.ndarray  # (n_main, max_sub) cumulative sub-category mix, padded with 1
    sub_code: np.ndarray  # (n_main, max_sub) index into sub_categories
    levels: np.ndarray  # (n_levels,)
    log_list_price: np.ndarray  # (n_main, n_levels)
    discount_zero_share: np.ndarray  # (n_main,)
    discount_positive: np.ndarray  # (n_main, n_levels)
    rating_missing_share: np.ndarray  # (n_main,)
    log_n_ratings: np.ndarray  # (n_main, n_levels), of rated items
    n_ratings_buckets: np.ndarray  # (n_buckets,) lower bounds
    rating_values: np.ndarray  # (n_values,)
    rating_cdf: np.ndarray  # (n_buckets, n_values)


@cache
def load_marginals() -> Marginals:
    """Read the committed marginals from the installed package (cached)."""
    text = resources.files("fedarena.data").joinpath(MARGINALS_FILE).read_text(encoding="utf-8")
    raw = json.loads(text)
    mains = raw["main_categories"]
    names = tuple(mains)
    sub_names = tuple(dict.fromkeys(s for m in mains.values() for s in m["sub_categories"]))
    width = max(len(m["sub_categories"]) for m in mains.values())
    sub_cdf = np.ones((len(names), width))
    sub_code = np.zeros((len(names), width), dtype=np.int64)
    for row, m in enumerate(mains.values()):
        mix = np.array(list(m["sub_categories"].values()))
        sub_cdf[row, : len(mix)] = _cumulative(mix)
        sub_code[row, : len(mix)] = [sub_names.index(s) for s in m["sub_categories"]]
    share = np.array([m["share"] for m in mains.values()])
    histograms = np.array(raw["rating_histograms"])

    def column(key: str) -> np.ndarray:
        return np.array([m[key] for m in mains.values()], dtype=np.float64)

    return Marginals(
        main_categories=names,
        share=share / share.sum(),
        sub_categories=sub_names,
        sub_cdf=sub_cdf,
        sub_code=sub_code,
        levels=np.array(raw["levels"]),
        log_list_price=np.log(column("list_price")),
        discount_zero_share=column("discount_zero_share"),
        discount_positive=column("discount_positive"),
        rating_missing_share=column("rating_missing_share"),
        log_n_ratings=np.log(column("n_ratings")),
        n_ratings_buckets=np.array(raw["n_ratings_buckets"]),
        rating_values=np.array(raw["rating_values"]),
        rating_cdf=np.array([_cumulative(h) for h in histograms]),
    )


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Cumulative shares of ``weights``, ending at exactly 1 so that any ``u < 1`` falls inside."""
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return cdf


def generate_catalog(n_items: int = 2000, seed: int = 0) -> Catalog:
    """A synthetic catalog of ``n_items`` items, the same for the same ``seed``.

    Main-category counts are fixed by ``n_items`` (largest-remainder
    apportionment of the committed mix, see ``_apportion``); when ``n_items`` is
    at least the number of main categories, each of them gets at least one item,
    so even the smallest (0.01% of the real items) appears. Everything else is
    sampled.
    Items get ids ``G00000001``... and names such as ``"Air Conditioners item 17"``
    (numbered within the sub-category).

    >>> catalog = generate_catalog(100, seed=1)
    >>> len(catalog), bool((catalog.price <= catalog.list_price).all())
    (100, True)
    """
    if n_items < 1:
        raise ValueError(f"generate_catalog: n_items must be >= 1, got {n_items}")
    m = load_marginals()
    rng = np.random.default_rng(seed)
    counts = _apportion(n_items, m.share)
    main = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    sub = m.sub_code[main, _sample_discrete(m.sub_cdf, main, rng.random(n_items))]

    log_list_price = _sample_quantiles(m.levels, m.log_list_price, main, rng.random(n_items))
    # Whole paise, as in the shop; this also makes the many ₹999 items exactly ₹999.
    list_price = np.round(np.exp(log_list_price), 2)
    positive = _sample_quantiles(m.levels, m.discount_positive, main, rng.random(n_items))
    discount = np.where(rng.random(n_items) < m.discount_zero_share[main], 0.0, positive)

    rated = rng.random(n_items) >= m.rating_missing_share[main]
    log_n = _sample_quantiles(m.levels, m.log_n_ratings, main, rng.random(n_items))
    # ceil keeps P(n <= k) equal to the committed CDF of log n at log k; the
    # tolerance stops exp(log(k)) rounding up to k + 1.
    n_ratings = np.where(rated, np.ceil(np.exp(log_n) - 1e-9), 0).astype(np.int64)
    bucket = np.searchsorted(m.n_ratings_buckets, np.maximum(n_ratings, 1), side="right") - 1
    step = _sample_discrete(m.rating_cdf, bucket, rng.random(n_items))
    rating = np.where(rated, m.rating_values[step], np.nan)

    return Catalog(
        item_id=_item_ids(n_items),
        name=_item_names(m.sub_categories, sub),
        main_category=main,
        sub_category=sub,
        main_categories=m.main_categories,
        sub_categories=m.sub_categories,
        price=list_price * (1.0 - discount),
        list_price=list_price,
        discount=discount,
        rating=rating,
        n_ratings=n_ratings,
    )


def _apportion(n: int, share: np.ndarray) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``share`` (largest remainder).

    When ``n`` is at least the number of positive shares, each of them gets at
    least one: those whose quota is under one item get exactly one, and the
    rest of ``n`` is split among the others. Ties go to the earlier entry.

    >>> _apportion(10, np.array([0.7, 0.299, 0.001])).tolist()
    [6, 3, 1]
    """
    share = share / share.sum()
    needs_one = share > 0 if n >= np.count_nonzero(share) else np.zeros(len(share), bool)
    fixed = np.zeros(len(share), bool)
    while True:
        free = np.where(fixed, 0.0, share)
        quota = (n - fixed.sum()) * free / free.sum()
        small = needs_one & ~fixed & (quota < 1)
        if not small.any():
            break
        fixed |= small
    counts = np.where(fixed, 1, np.floor(quota)).astype(np.int64)
    by_remainder = np.argsort(-(quota - np.floor(quota)), kind="stable")
    counts[by_remainder[: n - counts.sum()]] += 1
    return counts


def _sample_quantiles(
    levels: np.ndarray, table: np.ndarray, rows: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Inverse-CDF samples: item ``i`` from the quantiles ``table[rows[i]]`` at ``levels``.

    Linear between levels; ``u`` below the first level or above the last gives the
    first or last quantile (so the extremes are winsorised).
    """
    out = np.empty(len(u))
    for row, quantiles in enumerate(table):
        mine = rows == row
        out[mine] = np.interp(u[mine], levels, quantiles)
    return out


def _sample_discrete(cdf: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF samples of an index: item ``i`` from the cumulative row ``cdf[rows[i]]``.

    Each row ends at 1, so ``u`` in ``[0, 1)`` picks an index with positive probability.
    """
    out = np.empty(len(u), dtype=np.int64)
    for row, cumulative in enumerate(cdf):
        mine = rows == row
        out[mine] = np.searchsorted(cumulative, u[mine], side="right")
    return out


def _item_ids(n: int) -> np.ndarray:
    """``G00000001``, ``G00000002``, ... (wider when ``n`` needs it)."""
    numbers = pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(8)
    return ("G" + numbers).to_numpy(dtype=object)


def _item_names(sub_categories: tuple[str, ...], sub: np.ndarray) -> np.ndarray:
    """``"<sub category> item <k>"``, ``k`` counting the items of that sub-category."""
    order = np.argsort(sub, kind="stable")
    starts = np.searchsorted(sub[order], sub[order], side="left")
    number = np.empty(len(sub), dtype=np.int64)
    number[order] = np.arange(len(sub)) - starts + 1
    label = pd.Series(np.asarray(sub_categories, dtype=object)[sub])
    return (label + " item " + pd.Series(number).astype(str)).to_numpy(dtype=object)
