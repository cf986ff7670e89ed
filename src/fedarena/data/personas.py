"""The eleven shopper personas of the original project, as purchase utilities.

A persona scores every item with a utility ``u`` in logit units; a shopper who
browses an item buys it with probability ``sigmoid(u + b_s + e_si)`` where
``b_s`` is the shopper's own propensity and ``e_si`` item-level noise (see
``fedarena.data.shoppers``). Terms use the standardised features of
``fedarena.data.features``: ``r`` the star rating (catalog mean where missing),
``m`` 1 where the rating is missing, ``d`` the discount in [0, 1), ``p`` the
z-scored log price, ``pc`` the log price z-scored within its category and
``q`` the z-scored log number of ratings (popularity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fedarena.data.features import ItemFeatures

Utility = Callable[[ItemFeatures], np.ndarray]


@dataclass(frozen=True)
class Persona:
    """A named purchase rule; ``rule`` is the exact formula of ``utility``."""

    name: str
    rule: str
    utility: Utility


def _missing(f: ItemFeatures) -> np.ndarray:
    return 1.0 - f.has_rating


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "ratermax",
        "u = 4 (r - 4.2) - 3 m: buys only top-rated items, never unrated ones",
        lambda f: 4.0 * (f.rating - 4.2) - 3.0 * _missing(f),
    ),
    Persona(
        "ratermed",
        "u = 2 (r - 3.8) - m: prefers well-rated items, tolerates unrated ones",
        lambda f: 2.0 * (f.rating - 3.8) - _missing(f),
    ),
    Persona(
        "impulsivemax",
        "u = 6 (d - 0.45): buys deep discounts whatever the rating",
        lambda f: 6.0 * (f.discount - 0.45),
    ),
    Persona(
        "valuerater",
        "u = 2 (r - 4.0) - 1.5 pc - m: rating per rupee within the category",
        lambda f: 2.0 * (f.rating - 4.0) - 1.5 * f.price_in_category_z - _missing(f),
    ),
    Persona(
        "midvalue",
        "u = 1 - 1.5 |pc| + (r - 3.9): mid-priced for its category, decent rating",
        lambda f: 1.0 - 1.5 * np.abs(f.price_in_category_z) + (f.rating - 3.9),
    ),
    Persona(
        "impulsivemid",
        "u = 3 (d - 0.3) + 0.5 q: moderate discounts on popular items",
        lambda f: 3.0 * (f.discount - 0.3) + 0.5 * f.popularity_z,
    ),
    Persona(
        "middiscount",
        "u = 1.5 - 8 |d - 0.35|: discounts near 35 %, neither none nor suspicious",
        lambda f: 1.5 - 8.0 * np.abs(f.discount - 0.35),
    ),
    Persona(
        "saverpro",
        "u = -3 p - 0.5: the cheapest items of the shop",
        lambda f: -3.0 * f.log_price_z - 0.5,
    ),
    Persona(
        "savermed",
        "u = -1.5 pc + 0.5 (r - 3.8): cheap for its category, some care for rating",
        lambda f: -1.5 * f.price_in_category_z + 0.5 * (f.rating - 3.8),
    ),
    Persona(
        "saverfree",
        "u = -4 (p + 0.7): almost only items far below the median price",
        lambda f: -4.0 * (f.log_price_z + 0.7),
    ),
    Persona(
        "socialproof",
        "u = 2 q + 0.5 (r - 3.8) - m: what many others have rated",
        lambda f: 2.0 * f.popularity_z + 0.5 * (f.rating - 3.8) - _missing(f),
    ),
)

PERSONA_NAMES = tuple(p.name for p in PERSONAS)


def utility_matrix(features: ItemFeatures) -> np.ndarray:
    """Utility of every item under every persona, shape (n_personas, n_items)."""
    return np.stack([p.utility(features) for p in PERSONAS]).astype(np.float64)
