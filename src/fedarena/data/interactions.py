"""Interaction logs (who interacted with which item, when) and the loader of a user's own log.

The federated-recommendation literature works on implicit feedback: a user
interacted with an item or did not, one user per client (FedMF, Chai et al.
2020; FedRecAttack, Rong et al. ICDE 2022). ``InteractionLog`` is that log as
numpy arrays; ``load_interactions`` reads it from a file:

- ``csv``: a header row naming ``user``, ``item``, ``timestamp`` and optionally
  ``rating`` and ``category`` (case-insensitive, any order, other columns
  ignored), comma- or tab-separated;
- ``ml-100k``: MovieLens-100K ``u.data``, ``user item rating timestamp``
  separated by tabs, no header;
- ``ml-1m``: MovieLens-1M ``ratings.dat``, ``user::item::rating::timestamp``, no header.

The format is recognised from the first line. Cleaning, the same for every
source (``log_from_frame``): of several interactions of one user with one item
only the latest is kept (``duplicate``), then users left with a single
interaction are dropped (``single_interaction``: leave-one-out could not both
train and test them); both are counted in the ``InteractionReport``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from fedarena.errors import DataError, os_error, shown_path

REQUIRED_COLUMNS = ("user", "item", "timestamp")
OPTIONAL_COLUMNS = ("rating", "category")
NO_CATEGORY = "(none)"
# MovieLens stars: 1-5 in 100K and 1M, 0.5-5 in the later releases.
MOVIELENS_RATINGS = (0.5, 5.0)

_PANDAS_LINE = re.compile(r"line (\d+)")
_INT64_MAX = str(np.iinfo(np.int64).max)
_SHOWN = 40  # characters of a bad cell quoted in an error


@dataclass(frozen=True, eq=False)
class InteractionLog:
    """Implicit interactions, one row per (user, item) pair, grouped by user in time order.

    Rows are sorted by user index, then timestamp; rows of one user with the
    same timestamp keep their order in the source file, so a user's last row is
    its latest interaction (the one leave-one-out holds out). Users and items
    are indexed ``0..n-1`` in the sorted order of their original ids
    (``user_ids`` / ``item_ids``: integers for MovieLens, strings for CSV).

    - ``timestamp``: integer (seconds since 1970 for MovieLens and ISO dates;
      only the order matters).
    - ``rating``: the explicit rating when the source had one (``nan`` where a
      CSV cell was empty), else ``None``; the protocol ignores it.
    - ``item_category``: a code into ``categories`` per item (``"(none)"`` when
      the source gave none).
    - ``item_titles`` / ``item_genres``: per item, where the source has them
      (MovieLens: the title, and the genres as published, ``"A|B|C"``).

    Arrays are stored read-only, so that a log shared by many clients cannot
    be changed by one of them.
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    rating: np.ndarray | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_category: np.ndarray
    categories: tuple[str, ...]
    item_titles: np.ndarray | None = None
    item_genres: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, n_users, n_items = len(self.user), len(self.user_ids), len(self.item_ids)
        sizes = {"item": n, "timestamp": n, "rating": n, "item_category": n_items}
        sizes |= {"item_titles": n_items, "item_genres": n_items}
        for name, size in sizes.items():
            value = getattr(self, name)
            if value is not None and len(value) != size:
                raise ValueError(f"InteractionLog.{name} has {len(value)} entries, expected {size}")
        if n == 0:
            raise ValueError("InteractionLog is empty: it needs at least one interaction")
        for name, bound in (("user", n_users), ("item", n_items)):
            value = getattr(self, name)
            if value.min() < 0 or value.max() >= bound:
                raise ValueError(f"InteractionLog.{name} holds an index outside [0, {bound})")
        if self.item_category.min() < 0 or self.item_category.max() >= len(self.categories):
            raise ValueError("InteractionLog.item_category holds a code with no name in categories")
        step_user, step_time = np.diff(self.user), np.diff(self.timestamp)
        if (step_user < 0).any() or ((step_user == 0) & (step_time < 0)).any():
            raise ValueError("InteractionLog rows must be sorted by user, then timestamp")
        if np.bincount(self.user, minlength=n_users).min() == 0:
            raise ValueError("InteractionLog.user_ids names a user with no interaction")
        if n_users * n_items < 2**63:
            pair = self.user.astype(np.int64) * n_items + self.item
            twice = (np.diff(np.sort(pair)) == 0).any()
        else:
            by_pair = np.lexsort((self.item, self.user))
            same = np.diff(self.user[by_pair]) == 0
            twice = (same & (np.diff(self.item[by_pair]) == 0)).any()
        if twice:
            raise ValueError("InteractionLog holds a (user, item) pair twice")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                frozen = value.view()
                frozen.flags.writeable = False
                object.__setattr__(self, f.name, frozen)

    def __len__(self) -> int:
        return len(self.user)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def user_ptr(self) -> np.ndarray:
        """CSR offsets: user ``u``'s rows are ``user_ptr[u]:user_ptr[u + 1]``."""
        return np.searchsorted(self.user, np.arange(self.n_users + 1))

    def items_of(self, user: int) -> np.ndarray:
        """The items user ``user`` interacted with, oldest first."""
        lo, hi = np.searchsorted(self.user, [user, user + 1])
        return self.item[lo:hi]


@dataclass(frozen=True)
class InteractionReport:
    """What a loader read, dropped and repaired.

    ``dropped`` counts rows by the first reason that applies: ``duplicate``
    (an older interaction of a user with an item it interacted with again),
    then ``single_interaction`` (the only row of a user);
    ``rows_read == rows_kept + sum(dropped.values())``. Empty lines are not
    rows. ``repaired`` counts ``category/conflicting``: items given different
    categories on different rows (the first row's category is kept). Both
    always hold every key, zero counts included.
    """

    source: str
    format: str
    rows_read: int
    rows_kept: int
    n_users: int
    n_items: int
    dropped: dict[str, int]
    repaired: dict[str, int]

    def lines(self) -> list[str]:
        """The report as short human-readable lines, for logs and the CLI."""
        out = [
            f"source: {self.source} ({self.format})",
            f"rows read: {self.rows_read:,}, kept: {self.rows_kept:,}",
            f"users: {self.n_users:,}, items: {self.n_items:,}",
        ]
        out += [f"dropped {reason}: {n:,}" for reason, n in self.dropped.items()]
        out += [f"repaired {field}: {n:,}" for field, n in self.repaired.items()]
        return out


def load_interactions(path: str | Path) -> tuple[InteractionLog, InteractionReport]:
    """Read an interaction log (CSV, MovieLens ``u.data`` or ``ratings.dat``) and clean it.

    Timestamps are whole numbers (any unit; only their order is used) or, in a
    CSV, ISO 8601 date-times (read as UTC, to the second); one file uses one
    kind. Ratings must be finite (MovieLens: 0.5 to 5). An empty category cell
    means ``"(none)"``. Lines that are empty or hold only separators are skipped.

    Raises ``DataError`` with one line ``FILE:LINE: FIELD: what is wrong`` for a
    missing or empty file, a missing or repeated column, a header row repeated
    further down, a line with too many fields, an empty user, item or timestamp,
    a number that does not parse, is not finite or does not fit in 64 bits, or
    when no user has two interactions.
    """
    file = Path(path)
    text = _read_text(file)
    first = text.split("\n", 1)[0].strip("\r")
    if not first.strip():
        raise DataError(f"{file}:1: empty first line, expected a header or a first record")
    if "::" in first:
        fmt, sep, header = "ml-1m", "\t", False
        text = text.replace("::", "\t")
    else:
        sep = "\t" if "\t" in first else ","
        cells = first.split(sep)
        headerless = all(_is_number(c) for c in cells)
        if headerless and not (sep == "\t" and len(cells) == 4):
            raise DataError(
                f"{file}:1: expected a header naming {', '.join(REQUIRED_COLUMNS)}, got {first!r}; "
                "headerless files are read only as MovieLens u.data (4 tab-separated numbers) "
                "or ratings.dat (user::item::rating::timestamp)"
            )
        fmt, header = ("ml-100k", False) if headerless else ("csv", True)

    names = _header(file, first, sep) if header else ["user", "item", "rating", "timestamp"]
    movielens = fmt != "csv"
    cells = _read_cells(file, text, sep, names, header, typed=movielens)
    line = np.arange(len(cells)) + (2 if header else 1)
    used = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in cells.columns]
    # A column that parsed as numbers has no empty cell, so no line with one is blank.
    if all(_is_text(cells[c]) for c in cells.columns):
        blank = np.logical_and.reduce([cells[c].str.strip().eq("").to_numpy() for c in cells])
        cells, line = cells.loc[~blank].reset_index(drop=True), line[~blank]
    cells = cells[used]
    if cells.empty:
        raise DataError(f"{file}: holds a header but no interaction")
    if header and all(_is_text(cells[c]) for c in REQUIRED_COLUMNS):
        repeated = np.logical_and.reduce(
            [cells[c].str.strip().str.lower().eq(c).to_numpy() for c in REQUIRED_COLUMNS]
        )
        if repeated.any():
            at = line[np.argmax(repeated)]
            raise DataError(f"{file}:{at}: the header row appears again; a file holds one header")

    where = _Where(file, line)
    frame = pd.DataFrame(
        {
            "user": _parse_id(cells["user"], where, "user", integer=movielens),
            "item": _parse_id(cells["item"], where, "item", integer=movielens),
            "timestamp": _parse_timestamp(cells["timestamp"], where, dates=not movielens),
        }
    )
    if "rating" in cells.columns:
        bounds = MOVIELENS_RATINGS if movielens else None
        frame["rating"] = _parse_rating(cells["rating"], where, bounds)
    if "category" in cells.columns:
        category = cells["category"].str.strip()
        frame["category"] = category.where(category != "", NO_CATEGORY)
    return log_from_frame(frame, source=str(file), format=fmt)


def log_from_frame(
    frame: pd.DataFrame, *, source: str, format: str
) -> tuple[InteractionLog, InteractionReport]:
    """Clean parsed interactions into a log: keep the latest of duplicates, drop lone users.

    ``frame`` has one row per interaction in source order and the columns
    ``user``, ``item`` (ids), ``timestamp`` (int64), and optionally ``rating``
    (float), ``category``, ``title``, ``genres`` (per row; an item takes the
    values of its first kept row). Raises ``DataError`` when no user has two
    interactions.
    """
    user_code = pd.factorize(frame["user"])[0]
    item_code, item_names = pd.factorize(frame["item"])
    timestamp = frame["timestamp"].to_numpy(dtype=np.int64)

    # Latest interaction of each (user, item); equal timestamps: the later row.
    # A pair code fits in int64: it is below len(frame) ** 2.
    pair = user_code * len(item_names) + item_code
    order = _stable_order(pair, timestamp)
    last_of_pair = np.ones(len(order), dtype=bool)
    last_of_pair[:-1] = np.diff(pair[order]) != 0
    unique = np.zeros(len(frame), dtype=bool)
    unique[order[last_of_pair]] = True
    per_user = np.bincount(user_code[unique], minlength=user_code.max() + 1)
    keep = unique & (per_user[user_code] >= 2)
    if not keep.any():
        raise DataError(f"{source}: no user has two interactions; leave-one-out needs at least two")

    kept = frame.loc[keep].reset_index(drop=True)
    user_ids, user = np.unique(kept["user"].to_numpy(), return_inverse=True)
    item_ids, item = np.unique(kept["item"].to_numpy(), return_inverse=True)
    first = np.unique(item, return_index=True)[1]  # each item's first kept row

    conflicting = 0
    if "category" in kept.columns:
        category_name = kept["category"].to_numpy(dtype=object)
        n_names = pd.DataFrame({"item": item, "c": category_name}).groupby("item")["c"].nunique()
        conflicting = int((n_names > 1).sum())
        codes, categories = pd.factorize(category_name[first], sort=True)
    else:
        codes, categories = np.zeros(len(item_ids), dtype=np.int64), [NO_CATEGORY]

    by_time = _stable_order(user, timestamp[keep])
    log = InteractionLog(
        user=user[by_time].astype(np.int64),
        item=item[by_time].astype(np.int64),
        timestamp=timestamp[keep][by_time],
        rating=kept["rating"].to_numpy(np.float64)[by_time] if "rating" in kept else None,
        user_ids=user_ids,
        item_ids=item_ids,
        item_category=codes.astype(np.int64),
        categories=tuple(str(c) for c in categories),
        item_titles=_per_item(kept, "title", first),
        item_genres=_per_item(kept, "genres", first),
    )
    report = InteractionReport(
        source=source,
        format=format,
        rows_read=len(frame),
        rows_kept=len(log),
        n_users=log.n_users,
        n_items=log.n_items,
        dropped={
            "duplicate": int((~unique).sum()),
            "single_interaction": int((unique & ~keep).sum()),
        },
        repaired={"category/conflicting": conflicting},
    )
    return log, report


def _stable_order(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """Row order sorted by ``major``, then ``minor``, then position (two stable sorts)."""
    by_minor = np.argsort(minor, kind="stable")
    return by_minor[np.argsort(major[by_minor], kind="stable")]


def _per_item(kept: pd.DataFrame, column: str, first: np.ndarray) -> np.ndarray | None:
    """The column's value on each item's first kept row, or ``None`` without that column."""
    if column not in kept.columns:
        return None
    return kept[column].to_numpy(dtype=object)[first]


@dataclass(frozen=True)
class _Where:
    """A file and the line number of each parsed row, to name the first bad cell."""

    file: Path
    line: np.ndarray

    def fail(self, bad: np.ndarray, text: pd.Series, field: str, problem: str) -> None:
        """Raise ``DataError`` at the first row where ``bad`` holds, if any."""
        if bad.any():
            at = int(np.argmax(bad))
            value = str(text.iloc[at]).strip()
            shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
            raise DataError(f"{self.file}:{self.line[at]}: {field}: {problem}, got {shown!r}")


def _read_text(file: Path) -> str:
    """The whole file as text; one-line errors for what cannot be read."""
    try:
        if not file.exists():
            raise DataError(f"{shown_path(file)}: no such file")
        if not file.is_file():
            raise DataError(f"{shown_path(file)}: not a file, expected an interaction log")
        data = file.read_bytes()
    except OSError as err:  # a name too long, no permission
        raise os_error(file, err, "cannot read", DataError) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 text (byte {err.start})") from err
    if not text.strip():
        raise DataError(f"{file}: file is empty, expected a header row or MovieLens ratings")
    # Blank lines at the end are common and not rows; dropping them keeps the fast path.
    return text.rstrip("\r\n") + "\n"


def _header(file: Path, first: str, sep: str) -> list[str]:
    """Normalised column names of the header line; errors for repeated or missing columns."""
    names = [c.strip().lower() for c in next(csv.reader([first], delimiter=sep))]
    seen: set[str] = set()
    for name in names:
        if name in seen and name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
            raise DataError(f"{file}:1: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise DataError(
            f"{file}:1: missing required column(s) {', '.join(missing)}; the header needs "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})"
        )
    # Columns we ignore may repeat; rename them so that pandas keeps them apart.
    return [
        n if n in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) else f"_{i}" for i, n in enumerate(names)
    ]


def _read_cells(
    file: Path, text: str, sep: str, names: list[str], header: bool, *, typed: bool
) -> pd.DataFrame:
    """One row per non-header line: numbers where a column is all well-formed, else text.

    pandas' C parser makes a column int64 only when every cell is a signed run
    of digits that fits in 64 bits (float64 when every cell is a number), which
    is what the numeric fields accept. Ids of a CSV, and every numeric column
    that parsed as anything else, are read as text ("" when empty or missing)
    for the exact checks that name the first bad cell; so a well-formed file
    never takes that slower path. ``typed``: the ids are numbers (MovieLens).
    """
    numeric = {"timestamp": "i", "rating": "if"} | ({"user": "i", "item": "i"} if typed else {})
    text_columns = {c: str for c in names if c not in numeric}
    cells = _parse_csv(file, text, sep, names, header, text_columns or None)
    retry = [c for c, kinds in numeric.items() if c in cells and cells[c].dtype.kind not in kinds]
    if retry:
        cells[retry] = _parse_csv(file, text, sep, names, header, str)[retry]
    return cells


def _parse_csv(
    file: Path, text: str, sep: str, names: list[str], header: bool, dtype: object
) -> pd.DataFrame:
    """``pd.read_csv`` of the text; a line with too many fields is a ``DataError``."""
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=0 if header else None,
            names=names,
            index_col=False,
            dtype=dtype,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
        )
    except pd.errors.ParserError as err:
        line = _PANDAS_LINE.search(str(err))
        where = f"{file}:{line.group(1)}" if line else str(file)
        raise DataError(f"{where}: more fields than the {len(names)} columns expected") from err


def _is_text(column: pd.Series) -> bool:
    return column.dtype.kind not in "iuf"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _integers(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse whole numbers exactly: (int64 values, is a whole number, does not fit in int64).

    Parsing through float would round ids and nanosecond timestamps above 2**53,
    and pandas would silently turn values above the int64 range into uint64 or
    float; digits are compared as text instead.
    """
    whole = text.str.fullmatch(r"[+-]?[0-9]+").to_numpy(dtype=bool)
    magnitude = text.str.lstrip("+-").str.lstrip("0")
    width = magnitude.str.len().to_numpy()
    too_big = whole & ((width > 19) | ((width == 19) & (magnitude > _INT64_MAX).to_numpy(bool)))
    safe = text.where(whole & ~too_big, "0")
    return pd.to_numeric(safe).to_numpy(dtype=np.int64), whole, too_big


def _parse_id(text: pd.Series, where: _Where, field: str, *, integer: bool) -> np.ndarray:
    """User or item ids: non-empty text, or whole numbers for the MovieLens formats."""
    if not _is_text(text):
        return text.to_numpy(dtype=np.int64)
    text = text.str.strip()
    where.fail(text.eq("").to_numpy(), text, field, "empty, expected an id")
    if not integer:
        return text.to_numpy(dtype=object)
    values, whole, too_big = _integers(text)
    where.fail(~whole, text, field, "not a whole number, expected a MovieLens id")
    where.fail(too_big, text, field, "does not fit in 64 bits")
    return values


def _parse_timestamp(text: pd.Series, where: _Where, *, dates: bool) -> np.ndarray:
    """Whole numbers, or (``dates``) ISO 8601 date-times as seconds since 1970 UTC."""
    if not _is_text(text):
        return text.to_numpy(dtype=np.int64)
    text = text.str.strip()
    where.fail(text.eq("").to_numpy(), text, "timestamp", "empty, expected a time")
    values, whole, too_big = _integers(text)
    where.fail(too_big, text, "timestamp", "does not fit in 64 bits")
    if not dates or whole[0]:
        allowed = "a whole number" + (" (this file's first timestamp is one)" if dates else "")
        where.fail(~whole, text, "timestamp", f"not {allowed}")
        return values
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    invalid = parsed.isna().to_numpy()
    where.fail(
        whole, text, "timestamp", "a whole number, but this file's first timestamp is a date-time"
    )
    where.fail(invalid, text, "timestamp", "not a whole number or an ISO 8601 date-time")
    epoch = pd.Timestamp(0, tz="UTC")
    return ((parsed - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def _parse_rating(text: pd.Series, where: _Where, bounds: tuple[float, float] | None) -> np.ndarray:
    """Finite ratings (``nan`` for an empty CSV cell), inside ``bounds`` when given."""
    if _is_text(text):
        text = text.str.strip()
        empty = text.eq("").to_numpy()
        if bounds is not None:
            where.fail(empty, text, "rating", "empty, expected a number")
        value = pd.to_numeric(text.where(~empty, "nan"), errors="coerce").to_numpy(np.float64)
        nan_word = text.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy(dtype=bool)
        where.fail(~empty & np.isnan(value) & ~nan_word, text, "rating", "not a number")
    else:
        value, empty = text.to_numpy(dtype=np.float64), np.zeros(len(text), dtype=bool)
    where.fail(~empty & ~np.isfinite(value), text, "rating", "not finite")
    if bounds is not None:
        lo, hi = bounds
        outside = (value < lo) | (value > hi)
        where.fail(outside, text, "rating", f"outside the MovieLens range [{lo}, {hi}]")
    return value
