"""The product catalog: one typed, column-oriented table shared by every data source."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

COLUMNS = (
    "item_id",
    "name",
    "main_category",
    "sub_category",
    "price",
    "list_price",
    "discount",
    "rating",
    "n_ratings",
)


@dataclass(frozen=True, eq=False)
class Catalog:
    """Items of a shop, one entry per array position (the item index).

    Categories are stored as integer codes into ``main_categories`` /
    ``sub_categories`` so that models can embed them directly.

    - ``price``: what the shopper pays (the discount price when there is one).
    - ``list_price``: the undiscounted price (``>= price``).
    - ``discount``: ``1 - price / list_price``, in ``[0, 1)``.
    - ``rating``: mean star rating in ``[1, 5]``, ``nan`` when the item has none.
    - ``n_ratings``: number of ratings, ``0`` when the item has none.
    """

    item_id: np.ndarray
    name: np.ndarray
    main_category: np.ndarray
    sub_category: np.ndarray
    main_categories: tuple[str, ...]
    sub_categories: tuple[str, ...]
    price: np.ndarray
    list_price: np.ndarray
    discount: np.ndarray
    rating: np.ndarray
    n_ratings: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.item_id)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and len(value) != n:
                raise ValueError(f"Catalog.{f.name} has {len(value)} entries, item_id has {n}")
        if n == 0:
            raise ValueError("Catalog is empty: it needs at least one item")
        if self.main_category.max() >= len(self.main_categories):
            raise ValueError("Catalog.main_category holds a code with no name in main_categories")
        if self.sub_category.max() >= len(self.sub_categories):
            raise ValueError("Catalog.sub_category holds a code with no name in sub_categories")

    def __len__(self) -> int:
        return len(self.item_id)

    @property
    def n_main(self) -> int:
        return len(self.main_categories)

    @property
    def n_sub(self) -> int:
        return len(self.sub_categories)

    @property
    def has_rating(self) -> np.ndarray:
        return ~np.isnan(self.rating)

    def to_frame(self) -> pd.DataFrame:
        """The catalog as a DataFrame with category names instead of codes."""
        return pd.DataFrame(
            {
                "item_id": self.item_id,
                "name": self.name,
                "main_category": np.asarray(self.main_categories, dtype=object)[self.main_category],
                "sub_category": np.asarray(self.sub_categories, dtype=object)[self.sub_category],
                "price": self.price,
                "list_price": self.list_price,
                "discount": self.discount,
                "rating": self.rating,
                "n_ratings": self.n_ratings,
            }
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Catalog:
        """Build a catalog from a frame with the columns of ``COLUMNS`` (categories as names)."""
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"catalog frame lacks column(s): {', '.join(missing)}")
        main = pd.Categorical(frame["main_category"])
        sub = pd.Categorical(frame["sub_category"])
        return cls(
            item_id=frame["item_id"].to_numpy(dtype=object),
            name=frame["name"].to_numpy(dtype=object),
            main_category=main.codes.astype(np.int64),
            sub_category=sub.codes.astype(np.int64),
            main_categories=tuple(str(c) for c in main.categories),
            sub_categories=tuple(str(c) for c in sub.categories),
            price=frame["price"].to_numpy(dtype=np.float64),
            list_price=frame["list_price"].to_numpy(dtype=np.float64),
            discount=frame["discount"].to_numpy(dtype=np.float64),
            rating=frame["rating"].to_numpy(dtype=np.float64),
            n_ratings=frame["n_ratings"].to_numpy(dtype=np.int64),
        )

    def take(self, indices: np.ndarray) -> Catalog:
        """The catalog restricted to ``indices`` (category codes and names kept)."""
        columns = {
            f.name: getattr(self, f.name)[indices]
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return Catalog(
            main_categories=self.main_categories, sub_categories=self.sub_categories, **columns
        )
