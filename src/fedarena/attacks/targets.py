"""The items a promotion attack pushes into benign shoppers' top-10.

By default ``K`` items (``n_targets``, 1 unless set) drawn uniformly among the
least-bought tenth of the catalog: items are ranked by their number of
purchases in the shoppers' training logs (ties in an order fixed by the
seed) and the ``ceil(n_items / 10)`` lowest form the pool. A rarely bought item
is the hard, realistic case (a new or unpopular product a seller wants to
push), and leaves most benign shoppers eligible for ER@10, which only counts
shoppers who never interacted with a target. ``targets=[...]`` names the
items instead.

The draw uses its own generator, seeded by the scenario seed alone, so the
same seed gives the same targets whatever the malicious fraction: a run with
``malicious_fraction = 0`` measures the clean model's ER@10 on the very items
the attacked run promotes.
"""

from __future__ import annotations

import math

import numpy as np

from fedarena.data.shoppers import Population
from fedarena.seeds import Stream, stream

LEAST_BOUGHT_SHARE = 0.1


def purchase_counts(population: Population, n_items: int) -> np.ndarray:
    """Number of training purchases of every item, shape (n_items,)."""
    bought = population.train_items[population.train_labels > 0.5]
    return np.bincount(bought, minlength=n_items)


def rarely_bought(
    population: Population, n_items: int, k: int, rng: np.random.Generator
) -> np.ndarray:
    """``k`` distinct items, uniformly among the least-bought tenth (see the module docstring)."""
    counts = purchase_counts(population, n_items)
    order = np.lexsort((rng.permutation(n_items), counts))
    pool = order[: max(k, math.ceil(LEAST_BOUGHT_SHARE * n_items))]
    return np.sort(rng.choice(pool, size=k, replace=False))


class PromotionTargets:
    """The target items of one attack: given, or drawn at enrolment from the population."""

    def __init__(
        self,
        targets: list[int] | None = None,
        n_targets: int | None = None,
        seed: int = 0,
        n_items: int | None = None,
    ) -> None:
        if targets is not None and n_targets is not None:
            raise ValueError("give targets or n_targets, not both")
        if targets is not None:
            if (
                not isinstance(targets, list | tuple)
                or not targets
                or not all(isinstance(t, int) and not isinstance(t, bool) for t in targets)
            ):
                raise ValueError(f"targets must be a non-empty list of item indices, got {targets}")
            if len(set(targets)) != len(targets) or min(targets) < 0:
                raise ValueError(f"targets must be distinct item indices >= 0, got {targets}")
        k = 1 if n_targets is None else n_targets
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"n_targets must be an integer >= 1, got {n_targets!r}")
        self._given = None if targets is None else np.array(sorted(targets), dtype=np.int64)
        self._k = k
        self._seed = seed
        self._items = self._given
        if n_items is not None:
            self._check_range(n_items)

    def _check_range(self, n_items: int) -> None:
        if self._given is not None and self._given.max() >= n_items:
            raise ValueError(
                f"targets must be item indices in [0, {n_items}), got {self._given.tolist()}"
            )
        if self._given is None and self._k > n_items:
            raise ValueError(f"n_targets ({self._k}) exceeds the {n_items} items of the catalog")

    def choose(self, population: Population, n_items: int) -> np.ndarray:
        """Fix the targets for this federation (the given ones, else rarely bought items)."""
        self._check_range(n_items)
        if self._given is None:
            rng = stream(self._seed, Stream.TARGETS)
            self._items = rarely_bought(population, n_items, self._k, rng)
        return self.items

    @property
    def items(self) -> np.ndarray:
        if self._items is None:
            raise RuntimeError("targets are drawn at enrolment: call the attack's enrol first")
        return self._items
