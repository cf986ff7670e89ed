"""Simulated shoppers: personas, non-IID category affinities and implicit-feedback logs.

Each shopper ``s`` gets

- a persona (balanced over the eleven of ``fedarena.data.personas``),
- category affinities ``a_s ~ Dirichlet(alpha * K * pi)`` where ``pi`` is the
  catalog's main-category mix and ``K`` its number of categories, so that
  ``alpha`` is the per-category concentration of a uniform mix (Hsu et al.,
  2019): small alpha gives shoppers who browse one or two categories, large
  alpha gives every shopper the global mix,
- a purchase propensity ``b_s ~ N(propensity_mean, propensity_std)``.

A shopper browses ``L_s = min_browse + Poisson(browse_mean)`` items: a category
drawn from ``a_s``, then an item of that category with probability
proportional to ``(1 + n_ratings) ** popularity_exponent``. Repeated views of
an item count once. Each browsed item is bought with probability
``sigmoid(u_persona(item) + b_s + e)``, ``e ~ N(0, noise_std)``.

The log is ordered in time. The latest ``max(1, round(test_fraction * P_s))``
of the shopper's ``P_s`` purchases are held out; training sees only what
happened before the first held-out purchase. Shoppers with fewer than two
purchases cannot both train and be tested: they are excluded and counted.
Each held-out purchase is ranked against ``n_eval_negatives`` items drawn
uniformly, without replacement, among those the shopper never interacted
with: never browsed nor bought, before or after its first held-out purchase
(the sampled-metrics protocol of He et al. 2017; ``_sample_negatives``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedarena.data.catalog import Catalog
from fedarena.data.features import item_features
from fedarena.data.negatives import untouched_items
from fedarena.data.personas import PERSONAS, utility_matrix
from fedarena.errors import FedarenaError
from fedarena.seeds import Stream, stream


@dataclass(frozen=True)
class PopulationConfig:
    """How to simulate the shoppers; see the module docstring for the maths."""

    n_shoppers: int = 500
    alpha: float = 0.3
    browse_mean: float = 60.0
    min_browse: int = 10
    popularity_exponent: float = 0.3
    propensity_mean: float = -0.5
    propensity_std: float = 0.5
    noise_std: float = 1.0
    test_fraction: float = 0.2
    n_eval_negatives: int = 99

    def __post_init__(self) -> None:
        if self.n_shoppers <= 0:
            raise FedarenaError(f"shoppers must be > 0, got {self.n_shoppers}")
        if not self.alpha > 0:
            raise FedarenaError(f"alpha must be > 0, got {self.alpha}")
        if not 0 < self.test_fraction < 1:
            raise FedarenaError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.n_eval_negatives < 0:
            raise FedarenaError(f"n_eval_negatives must be >= 0, got {self.n_eval_negatives}")


@dataclass(frozen=True, eq=False)
class Population:
    """The shoppers kept for the federation, indexed 0..n-1.

    The training log is stored in CSR form: shopper ``s`` saw the items
    ``train_items[train_ptr[s]:train_ptr[s+1]]`` in time order, with label 1
    where it bought the item and 0 where it only browsed it. Test case ``t``
    belongs to shopper ``test_shopper[t]``; ``test_items[t, 0]`` is the held-out
    purchase and ``test_items[t, 1:]`` its sampled negatives, sorted.
    """

    persona: np.ndarray
    affinity: np.ndarray
    propensity: np.ndarray
    train_ptr: np.ndarray
    train_items: np.ndarray
    train_labels: np.ndarray
    test_shopper: np.ndarray
    test_items: np.ndarray
    n_excluded: int

    def __len__(self) -> int:
        return len(self.persona)

    @property
    def n_train(self) -> np.ndarray:
        """Number of logged training interactions per shopper (FedAvg's weights)."""
        return np.diff(self.train_ptr)

    def train_log(self, shopper: int) -> tuple[np.ndarray, np.ndarray]:
        """Items and labels of one shopper's training log."""
        lo, hi = self.train_ptr[shopper], self.train_ptr[shopper + 1]
        return self.train_items[lo:hi], self.train_labels[lo:hi]


def _browse(
    catalog: Catalog, affinity: np.ndarray, n_browse: np.ndarray, exponent: float, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (shopper, item) browse events in time order, without repeats per shopper."""
    shopper = np.repeat(np.arange(len(n_browse)), n_browse)
    cdf = np.cumsum(affinity, axis=1)
    cdf[:, -1] = 1.0
    category = (cdf[shopper] < rng.random(len(shopper))[:, None]).sum(axis=1)
    weight = (1.0 + catalog.n_ratings.astype(np.float64)) ** exponent
    item = np.empty(len(shopper), dtype=np.int64)
    for c in np.unique(category):
        members = np.flatnonzero(catalog.main_category == c)
        member_cdf = np.cumsum(weight[members])
        events = np.flatnonzero(category == c)
        draws = rng.random(len(events)) * member_cdf[-1]
        item[events] = members[np.minimum(np.searchsorted(member_cdf, draws), len(members) - 1)]
    _, first = np.unique(shopper * len(catalog) + item, return_index=True)
    first.sort()
    return shopper[first], item[first]


def _sample_negatives(
    case_shopper: np.ndarray,
    touched_ptr: np.ndarray,
    touched_items: np.ndarray,
    n_items: int,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """For each test case, ``k`` distinct items its shopper never interacted with, sorted.

    Shopper ``s`` interacted with ``touched_items[touched_ptr[s]:touched_ptr[s + 1]]``:
    everything it browsed or bought, in training, in test or after its first
    held-out purchase. Each case draws its own negatives uniformly without
    replacement from the other ``n_items - |touched(s)|`` items: every item
    gets an independent uniform key, touched items an infinite one, and the
    ``k`` smallest keys win. Keys are drawn case after case from ``rng``, so
    the result depends only on the generator's state. Returns an int64 array
    of shape ``(n_cases, k)``.

    Raises ``FedarenaError`` naming a shopper who interacted with so many items
    that fewer than ``k`` remain: its cases cannot be ranked among ``k``.
    """
    n_touched = np.diff(touched_ptr)
    short = n_touched[case_shopper] > n_items - k
    if short.any():
        s = int(case_shopper[np.argmax(short)])
        raise FedarenaError(
            f"shopper {s} interacted with {n_touched[s]} of {n_items} items, leaving "
            f"{n_items - n_touched[s]}; each held-out purchase is ranked among {k} "
            "never-interacted items, so use a larger catalog or fewer n_eval_negatives"
        )
    return untouched_items(case_shopper, touched_ptr, touched_items, n_items, k, rng)


def check_catalog_size(n_items: int, n_eval_negatives: int = 99) -> None:
    """Refuse a catalog too small to rank each held-out purchase among ``n_eval_negatives``
    never-interacted items (checked again per shopper as the negatives are drawn)."""
    if n_items < 2 * (n_eval_negatives + 1):
        raise FedarenaError(
            f"catalog has {n_items} items; evaluation ranks each held-out purchase "
            f"among {n_eval_negatives} negatives, so it needs at least "
            f"{2 * (n_eval_negatives + 1)}"
        )


def simulate_population(catalog: Catalog, config: PopulationConfig, seed: int) -> Population:
    """Simulate ``config.n_shoppers`` shoppers over ``catalog``, deterministic in ``seed``."""
    check_catalog_size(len(catalog), config.n_eval_negatives)
    rng = stream(seed, Stream.SHOPPERS)
    n = config.n_shoppers
    persona = rng.permutation(np.arange(n) % len(PERSONAS))
    counts = np.bincount(catalog.main_category, minlength=catalog.n_main).astype(np.float64)
    present = counts > 0
    concentration = config.alpha * present.sum() * counts[present] / counts.sum()
    affinity = np.zeros((n, catalog.n_main))
    affinity[:, present] = rng.dirichlet(concentration, size=n)
    propensity = rng.normal(config.propensity_mean, config.propensity_std, size=n)
    n_browse = config.min_browse + rng.poisson(config.browse_mean, size=n)

    shopper, item = _browse(catalog, affinity, n_browse, config.popularity_exponent, rng)
    utility = utility_matrix(item_features(catalog))[persona[shopper], item]
    logit = utility + propensity[shopper] + rng.normal(0.0, config.noise_std, len(item))
    bought = rng.random(len(item)) < 1.0 / (1.0 + np.exp(-logit))

    # Rank of each purchase within its shopper's purchases, to hold out the latest.
    n_bought = np.bincount(shopper, weights=bought, minlength=n).astype(np.int64)
    purchase_rank = np.cumsum(bought) - 1
    purchase_rank -= np.concatenate([[0], np.cumsum(n_bought)[:-1]])[shopper]
    n_test = np.maximum(1, np.rint(config.test_fraction * n_bought)).astype(np.int64)
    is_test = bought & (purchase_rank >= (n_bought - n_test)[shopper])
    first_test = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_test, shopper[is_test], np.flatnonzero(is_test))
    in_train = np.arange(len(item)) < first_test[shopper]

    kept = n_bought >= 2
    new_index = np.cumsum(kept) - 1
    train = in_train & kept[shopper]
    train_shopper = new_index[shopper[train]]
    test = is_test & kept[shopper]
    # The browse log is in shopper order, so the kept shoppers' events are their touched CSR.
    touched = kept[shopper]
    n_touched = np.bincount(new_index[shopper[touched]], minlength=kept.sum())
    test_shopper = new_index[shopper[test]]
    negatives = _sample_negatives(
        test_shopper,
        np.concatenate([[0], np.cumsum(n_touched)]),
        item[touched],
        len(catalog),
        config.n_eval_negatives,
        rng,
    )
    return Population(
        persona=persona[kept],
        affinity=affinity[kept],
        propensity=propensity[kept],
        train_ptr=np.concatenate(
            [[0], np.cumsum(np.bincount(train_shopper, minlength=kept.sum()))]
        ),
        train_items=item[train],
        train_labels=bought[train].astype(np.float32),
        test_shopper=test_shopper,
        test_items=np.concatenate([item[test][:, None], negatives], axis=1),
        n_excluded=int((~kept).sum()),
    )
