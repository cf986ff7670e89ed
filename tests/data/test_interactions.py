"""Interaction logs: the loader on hand-made files, and the leave-one-out protocol over them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedarena.data import negatives
from fedarena.data.interactions import InteractionLog, load_interactions
from fedarena.data.noniid import js_divergence
from fedarena.data.protocol import leave_one_out, noniid_stats, sample_negatives
from fedarena.errors import DataError


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def make_log(users: list[list[int]], n_items: int, categories: list[int] | None = None):
    """A log whose user ``u`` interacted with ``users[u]`` in that order (timestamps 0, 1, ...)."""
    user = np.repeat(np.arange(len(users)), [len(items) for items in users])
    return InteractionLog(
        user=user,
        item=np.concatenate([np.asarray(items, dtype=np.int64) for items in users]),
        timestamp=np.concatenate([np.arange(len(items)) for items in users]),
        rating=None,
        user_ids=np.arange(len(users)),
        item_ids=np.arange(n_items),
        item_category=np.zeros(n_items, dtype=np.int64)
        if categories is None
        else np.asarray(categories),
        categories=("a",) if categories is None else ("a", "b"),
    )


# Known answer: user a keeps y@1, x@3; b's two x rows are a duplicate (x@6 kept);
# c has one interaction (dropped); item x is given c1 then c3 (conflict, c1 kept).
SMALL = """user,item,timestamp,rating,category
a,x,3,4,c1
a,y,1,,c2
b,x,5,1,c1
b,x,6,2,c3
c,z,1,1,
b,y,2,3,c2

"""


def test_keeps_latest_duplicate_drops_lone_users_and_counts_both(tmp_path):
    log, report = load_interactions(write(tmp_path, SMALL))
    assert log.user_ids.tolist() == ["a", "b"]
    assert log.item_ids.tolist() == ["x", "y"]
    assert log.user.tolist() == [0, 0, 1, 1]
    assert log.item.tolist() == [1, 0, 1, 0]
    assert log.timestamp.tolist() == [1, 3, 2, 6]
    np.testing.assert_array_equal(log.rating, [np.nan, 4.0, 3.0, 2.0])
    assert [log.categories[c] for c in log.item_category] == ["c1", "c2"]
    assert (report.rows_read, report.rows_kept) == (6, 4)
    assert report.dropped == {"duplicate": 1, "single_interaction": 1}
    assert report.repaired == {"category/conflicting": 1}
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    assert report.format == "csv"
    assert "dropped single_interaction: 1" in report.lines()


def test_equal_timestamps_keep_file_order_and_leave_one_out_holds_out_the_last(tmp_path):
    text = "user,item,timestamp\nu,b,5\nu,a,5\nu,c,1\nu,d,5\nv,a,2\nv,b,2\n"
    log, _ = load_interactions(write(tmp_path, text))
    names = log.item_ids[log.item].tolist()
    assert names == ["c", "b", "a", "d", "a", "b"]
    split = leave_one_out(log)
    assert log.item_ids[split.test_items].tolist() == ["d", "b"]
    assert log.item_ids[split.train_of(0)].tolist() == ["c", "b", "a"]
    assert split.n_train.tolist() == [3, 1]


def test_duplicate_with_equal_timestamps_keeps_the_later_row(tmp_path):
    text = "user,item,timestamp,rating\nu,a,5,1\nu,a,5,2\nu,b,1,3\n"
    log, report = load_interactions(write(tmp_path, text))
    assert log.rating.tolist() == [3.0, 2.0]
    assert report.dropped["duplicate"] == 1


def test_reads_movielens_100k_u_data_with_numeric_ids(tmp_path):
    text = "196\t242\t3\t881250949\n2\t302\t3\t891717742\n196\t51\t2\t881250950\n2\t242\t1\t1\n"
    log, report = load_interactions(write(tmp_path, text, "u.data"))
    assert report.format == "ml-100k"
    assert log.user_ids.tolist() == [2, 196]  # numeric order, not text order
    assert log.item_ids.tolist() == [51, 242, 302]
    assert log.item_ids[log.item].tolist() == [242, 302, 242, 51]
    assert log.rating.tolist() == [1.0, 3.0, 3.0, 2.0]
    assert log.categories == ("(none)",)


def test_reads_movielens_1m_ratings_dat(tmp_path):
    text = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n"
    text += "2::3068::4::978299000\n"
    log, report = load_interactions(write(tmp_path, text, "ratings.dat"))
    assert report.format == "ml-1m"
    assert (log.n_users, log.n_items, len(log)) == (2, 4, 4)
    assert log.timestamp.tolist() == [978300760, 978302109, 978298709, 978299000]


def test_header_is_case_insensitive_any_order_tab_or_comma_with_extra_columns(tmp_path):
    text = "\ufeffItem\tnote\tTimestamp\tUSER\tnote\nx\thi\t2\tu\tz\ny\t\t1\tu\t\n"
    log, _ = load_interactions(write(tmp_path, text, "log.tsv"))
    assert log.item_ids[log.item].tolist() == ["y", "x"]
    assert log.rating is None


def test_iso_dates_are_seconds_since_1970_utc(tmp_path):
    text = "user,item,timestamp\nu,a,2020-01-01\nu,b,2020-01-01T01:00:00+01:00\n"
    text += "u,c,1970-01-01T00:00:07Z\n"
    log, _ = load_interactions(write(tmp_path, text))
    assert log.timestamp.tolist() == [7, 1577836800, 1577836800]
    assert log.item_ids[log.item].tolist() == ["c", "a", "b"]


def test_timestamps_are_parsed_exactly_up_to_the_int64_limit(tmp_path):
    big = 2**63 - 1
    text = f"user,item,timestamp\nu,a,{2**53 + 1}\nu,b,{big}\nu,c,-00{2**53 + 3}\n"
    log, _ = load_interactions(write(tmp_path, text))
    assert log.timestamp.tolist() == [-(2**53 + 3), 2**53 + 1, big]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("log.csv", "user,item,timestamp,rating\nu,a,1,2\nu,b,2,3\nv,a,5,1\nv,c,4,4\n"),
        ("u.data", "1\t10\t2\t1\n1\t11\t3\t2\n2\t10\t1\t5\n2\t12\t4\t4\n"),
        ("ratings.dat", "1::10::2::1\n1::11::3::2\n2::10::1::5\n2::12::4::4\n"),
    ],
)
def test_blank_lines_give_the_same_log_as_without_them(tmp_path, name, text):
    # A blank line makes every column text, so this compares the fast and exact parsers.
    plain, _ = load_interactions(write(tmp_path, text, name))
    lines = text.splitlines(keepends=True)
    gappy = "".join(lines[:2]) + "\n" + "".join(lines[2:]) + "\n\n"
    spaced, report = load_interactions(write(tmp_path, gappy, "gappy-" + name))
    assert report.rows_read == 4
    for field in ("user", "item", "timestamp", "rating", "user_ids", "item_ids"):
        np.testing.assert_array_equal(getattr(spaced, field), getattr(plain, field))
    assert spaced.user_ids.dtype == plain.user_ids.dtype


ERRORS = [
    # (file content, start of the one-line error after "FILE")
    ("", ": file is empty"),
    ("\n\n", ": file is empty"),
    ("\nuser,item,timestamp\n", ":1: empty first line"),
    ("user,item\nu,a\n", ":1: missing required column(s) timestamp"),
    ("user,item,timestamp,Item\n", ":1: column 'item' appears twice in the header"),
    ("user,item,timestamp\n", ": holds a header but no interaction"),
    (
        "user,item,timestamp\nu,a,1\nu,b,2\nuser,item,timestamp\nv,a,1\n",
        ":4: the header row appears",
    ),
    ("user,item,timestamp\nu,a,1\nu,b,2,9\n", ":3: more fields than the 3 columns"),
    ("user,item,timestamp\nu,a,1\nu,b\n", ":3: timestamp: empty"),
    ("user,item,timestamp\nu,a,1\n,b,2\n", ":3: user: empty"),
    ("user,item,timestamp\nu,a,1\nu, ,2\n", ":3: item: empty"),
    ("user,item,timestamp\nu,a,1\nu,b,yesterday\n", ":3: timestamp: not a whole number"),
    ("user,item,timestamp\nu,a,1\nu,b,1.5\n", ":3: timestamp: not a whole number"),
    ("user,item,timestamp\nu,a,2020-01-01\nu,b,7\n", ":3: timestamp: a whole number, but"),
    ("user,item,timestamp\nu,a,1\nu,b,9223372036854775808\n", ":3: timestamp: does not fit"),
    ("user,item,timestamp,rating\nu,a,1,2\nu,b,2,inf\n", ":3: rating: not finite"),
    ("user,item,timestamp,rating\nu,a,1,2\nu,b,2,NaN\n", ":3: rating: not finite"),
    ("user,item,timestamp,rating\nu,a,1,2\nu,b,2,good\n", ":3: rating: not a number"),
    ("user,item,timestamp\nu,a,1\nv,a,1\n", ": no user has two interactions"),
    ("1,2,3,4\n", ":1: expected a header naming user, item, timestamp"),
    ("1\t2\t3\t4\n1\t2\t9\t4\n", ":2: rating: outside the MovieLens range"),
    ("1\t2\t3\t4\n1\tx\t3\t4\n", ":2: item: not a whole number"),
    ("1\t2\t3\t4\n99999999999999999999\t2\t3\t4\n", ":2: user: does not fit in 64 bits"),
    ("1::2::3::4\n1::3::3\n", ":2: timestamp: empty"),
    ("1::2::3::4\n1::3::3::4::5\n", ":2: more fields than the 4 columns"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_bad_input_is_one_line_naming_file_line_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as caught:
        load_interactions(path)
    error = str(caught.value)
    assert error.startswith(f"{path}{message}"), error
    assert "\n" not in error


def test_missing_file_folder_and_non_utf8_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_interactions(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="not a file"):
        load_interactions(tmp_path)
    path = tmp_path / "latin1.csv"
    path.write_bytes("user,item,timestamp\nJosé,a,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_interactions(path)


def test_log_is_read_only_and_checks_its_invariants():
    log = make_log([[0, 1], [1, 2]], n_items=3)
    with pytest.raises(ValueError, match="read-only"):
        log.item[0] = 2
    with pytest.raises(ValueError, match="sorted by user"):
        InteractionLog(
            user=np.array([1, 0]),
            item=np.array([0, 1]),
            timestamp=np.array([0, 0]),
            rating=None,
            user_ids=np.arange(2),
            item_ids=np.arange(2),
            item_category=np.zeros(2, dtype=np.int64),
            categories=("a",),
        )
    with pytest.raises(ValueError, match="pair twice"):
        make_log([[0, 0]], n_items=1)


rows = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 7), st.integers(-3, 3)), min_size=1, max_size=60
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows)
def test_loader_matches_a_row_by_row_reference(tmp_path, rows):
    path = write(
        tmp_path, "user,item,timestamp\n" + "".join(f"u{u},i{i},{t}\n" for u, i, t in rows)
    )
    latest: dict[tuple[str, str], tuple[int, int]] = {}
    for row, (u, i, t) in enumerate(rows):
        key = (f"u{u}", f"i{i}")
        if key not in latest or (t, row) >= latest[key]:
            latest[key] = (t, row)
    per_user: dict[str, list[tuple[int, int, str]]] = {}
    for (u, i), (t, row) in latest.items():
        per_user.setdefault(u, []).append((t, row, i))
    expected = {u: [i for _, _, i in sorted(v)] for u, v in per_user.items() if len(v) >= 2}
    if not expected:
        with pytest.raises(DataError, match="no user has two"):
            load_interactions(path)
        return
    log, report = load_interactions(path)
    got = {log.user_ids[u]: log.item_ids[log.items_of(u)].tolist() for u in range(log.n_users)}
    assert got == expected
    assert report.rows_read == len(rows) == report.rows_kept + sum(report.dropped.values())
    assert report.dropped["duplicate"] == len(rows) - len(latest)
    split = leave_one_out(log)
    for u in range(log.n_users):
        assert log.item_ids[split.test_items[u]] == expected[log.user_ids[u]][-1]


# The protocol -------------------------------------------------------------------------


def test_leave_one_out_partitions_each_users_items():
    log = make_log([[3, 1, 4], [1, 5], [9, 2, 6, 5]], n_items=10)
    split = leave_one_out(log)
    assert split.test_items.tolist() == [4, 5, 5]
    assert split.train_ptr.tolist() == [0, 2, 3, 6]
    assert split.train_items.tolist() == [3, 1, 1, 9, 2, 6]
    assert len(split) == 3


def test_leave_one_out_refuses_a_user_with_one_interaction():
    with pytest.raises(DataError, match="user 1 has one interaction"):
        leave_one_out(make_log([[0, 1], [2]], n_items=3))


def test_negatives_are_distinct_sorted_and_never_interacted():
    log = make_log([list(range(0, 120, 3)), [5, 7], list(range(20, 0, -1))], n_items=140)
    negatives = sample_negatives(log, np.random.default_rng(0))
    assert negatives.shape == (3, 99) and negatives.dtype == np.int64
    for u in range(3):
        assert len(set(negatives[u])) == 99
        assert not set(negatives[u]) & set(log.items_of(u).tolist())
        assert (np.diff(negatives[u]) > 0).all() and negatives[u].max() < 140


def test_negatives_are_the_whole_complement_when_just_enough_remain():
    log = make_log([list(range(1, 102, 2)), [0, 1]], n_items=150)
    negatives = sample_negatives(log, np.random.default_rng(1))
    assert negatives[0].tolist() == sorted(set(range(150)) - set(range(1, 102, 2)))


def test_negatives_refuse_a_user_with_too_few_never_interacted_items():
    log = make_log([list(range(52)), [0, 1]], n_items=150)
    with pytest.raises(DataError, match="user 0 interacted with 52 of 150 items, leaving 98"):
        sample_negatives(log, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_negatives must be >= 0"):
        sample_negatives(log, np.random.default_rng(0), n_negatives=-1)


def test_negatives_are_deterministic_and_independent_of_the_block_size(monkeypatch):
    log = make_log([[0, 1], [2, 3, 4], [5, 6]], n_items=200)
    first = sample_negatives(log, np.random.default_rng(7))
    assert (sample_negatives(log, np.random.default_rng(7)) == first).all()
    assert not (sample_negatives(log, np.random.default_rng(8)) == first).all()
    monkeypatch.setattr(negatives, "BLOCK", 200)  # one user per block
    assert (sample_negatives(log, np.random.default_rng(7)) == first).all()


def test_negatives_are_uniform_over_never_interacted_items():
    n_users, n_items, k = 4000, 10, 2
    log = make_log([[0, 1]] * n_users, n_items=n_items)
    counts = np.bincount(sample_negatives(log, np.random.default_rng(3), k).ravel(), minlength=10)
    assert counts[:2].tolist() == [0, 0]
    expected = n_users * k / (n_items - 2)  # 1000 each, sd about 30
    assert np.abs(counts[2:] - expected).max() < 5 * np.sqrt(expected)


@settings(max_examples=40, deadline=None)
@given(
    users=st.lists(
        st.lists(st.integers(0, 119), min_size=2, max_size=20, unique=True), min_size=1, max_size=8
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_negatives_never_include_an_interacted_item(users, seed):
    log = make_log(users, n_items=120)
    negatives = sample_negatives(log, np.random.default_rng(seed), n_negatives=99)
    for u, items in enumerate(users):
        assert not set(negatives[u].tolist()) & set(items)
        assert len(set(negatives[u].tolist())) == 99


def test_negatives_avoid_each_users_training_items_and_its_held_out_item():
    # 99 of 130 items drawn blind to the log would hit most of these users' 31 items.
    log = make_log([list(range(0, 124, 4)), list(range(129, 98, -1)), [64, 5]], n_items=130)
    split = leave_one_out(log)
    negatives = sample_negatives(log, np.random.default_rng(11))
    assert negatives.shape == (len(split), 99)
    for u in range(len(split)):
        touched = set(split.train_of(u).tolist()) | {int(split.test_items[u])}
        assert not touched & set(negatives[u].tolist())
    assert (sample_negatives(log, np.random.default_rng(11)) == negatives).all()


def test_noniid_stats_known_answer_for_two_users_with_disjoint_categories():
    # Items 0-2 are category a, 3-5 category b; each user trains on two items of one.
    log = make_log([[0, 1, 2], [3, 4, 5]], n_items=6, categories=[0, 0, 0, 1, 1, 1])
    stats = noniid_stats(log, leave_one_out(log))
    expected_js = js_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    m = np.array([0.75, 0.25])
    by_hand = 0.5 * (np.log2(1 / m[0]) + 0.5 * np.log2(0.5 / m[0]) + 0.5 * np.log2(0.5 / m[1]))
    assert expected_js == pytest.approx(by_hand)
    assert stats["js_divergence_mean"] == pytest.approx(by_hand)
    assert stats["purchase_share_min"] == stats["purchase_share_max"] == 0.5
    assert stats["purchase_share_gini"] == pytest.approx(0.0)
