"""Standardised numeric item features, shared by the shopper personas and the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedarena.data.catalog import Catalog

FEATURE_NAMES = (
    "log_price_z",
    "price_in_category_z",
    "discount",
    "rating_centred",
    "has_rating",
    "popularity_z",
)


@dataclass(frozen=True)
class ItemFeatures:
    """Per-item numeric features, each roughly zero-centred and of unit scale.

    - ``log_price_z``: z-score of ``log(1 + price)`` over the catalog.
    - ``price_in_category_z``: z-score of ``log(1 + price)`` within the main category
      ("expensive for what it is"), 0 for a category of one item.
    - ``discount``: the raw discount in ``[0, 1)``.
    - ``rating``: the star rating, the catalog mean where missing.
    - ``has_rating``: 1 where the item has a rating, else 0.
    - ``popularity_z``: z-score of ``log(1 + n_ratings)``.
    """

    log_price_z: np.ndarray
    price_in_category_z: np.ndarray
    discount: np.ndarray
    rating: np.ndarray
    has_rating: np.ndarray
    popularity_z: np.ndarray

    def matrix(self) -> np.ndarray:
        """The model's input features, shape (n_items, len(FEATURE_NAMES)), float32."""
        return np.stack(
            [
                self.log_price_z,
                self.price_in_category_z,
                self.discount,
                self.rating - 4.0,
                self.has_rating,
                self.popularity_z,
            ],
            axis=1,
        ).astype(np.float32)


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def item_features(catalog: Catalog) -> ItemFeatures:
    """Compute the standardised features of every item of ``catalog``."""
    log_price = np.log1p(catalog.price)
    counts = np.bincount(catalog.main_category, minlength=catalog.n_main)
    sums = np.bincount(catalog.main_category, weights=log_price, minlength=catalog.n_main)
    squares = np.bincount(catalog.main_category, weights=log_price**2, minlength=catalog.n_main)
    mean = sums / np.maximum(counts, 1)
    std = np.sqrt(np.maximum(squares / np.maximum(counts, 1) - mean**2, 0.0))
    cat_std = std[catalog.main_category]
    in_category = np.where(
        cat_std > 1e-9, (log_price - mean[catalog.main_category]) / np.maximum(cat_std, 1e-9), 0.0
    )
    has_rating = catalog.has_rating
    mean_rating = catalog.rating[has_rating].mean() if has_rating.any() else 4.0
    return ItemFeatures(
        log_price_z=_zscore(log_price),
        price_in_category_z=in_category,
        discount=catalog.discount.astype(np.float64),
        rating=np.where(has_rating, catalog.rating, mean_rating),
        has_rating=has_rating.astype(np.float64),
        popularity_z=_zscore(np.log1p(catalog.n_ratings.astype(np.float64))),
    )
