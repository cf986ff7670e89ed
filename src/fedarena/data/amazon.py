"""Loader for the Amazon Products Sales Dataset 2023 CSVs, read exactly as published.

The scrape is dirty: prices carry rupee signs and thousands separators, the
rating columns sometimes hold page text ("Get", "FREE Delivery by Amazon",
"Only 1 left in stock."), some files hold only a header, and one product (ASIN)
is listed in several sub-category files. ``load_amazon`` turns it into a clean
``Catalog`` and says, in a ``LoadReport``, what it dropped and repaired, and which kept
values are implausible (``PlausibleBounds``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fedarena.data.catalog import Catalog
from fedarena.errors import DataError, os_error, shown_path

REQUIRED_COLUMNS = (
    "name",
    "main_category",
    "sub_category",
    "link",
    "ratings",
    "no_of_ratings",
    "discount_price",
    "actual_price",
)

_ASIN = r"/dp/([A-Za-z0-9]{10})"
_PANDAS_LINE = re.compile(r"line (\d+)")
# How many items the report names for each kind of implausible value.
EXAMPLES = 3


@dataclass(frozen=True)
class PlausibleBounds:
    """Past these bounds a value is almost surely a scraping or typing error, not a product.

    ``max_list_price``: ₹10 million (one crore); the costliest listings of the 2023 scrape
    are about ₹1.6 million, and one list price of ₹9,899,999,999 (a placeholder) makes a
    ₹589 item look 100 % off. ``max_discount``: 0.99, a price under 1 % of its list price
    (shown as a discount of 1) is an inflated list price rather than a sale.
    ``max_n_ratings``: 10 million, over ten times the most-rated product of any Amazon
    store (the scrape's highest count is 589,547). A price of 0 (or below) is never a
    product's price either. The loader keeps such rows as they load (a zero price is read
    as missing); the report flags them so that a user can decide.
    """

    max_list_price: float = 1e7
    max_discount: float = 0.99
    max_n_ratings: int = 10**7

    def checks(self) -> dict[str, str]:
        """The ``LoadReport.implausible`` keys and what each flags."""
        return {
            "list_price/above_max": f"list price above ₹{self.max_list_price:,.0f}",
            "discount/above_max": f"discount above {self.max_discount:g} "
            f"(price under {1 - self.max_discount:.0%} of list price)",
            "n_ratings/above_max": f"more than {self.max_n_ratings:,} ratings",
            "price/zero_or_negative": "a price or list price of 0 or below (read as missing)",
        }


PLAUSIBLE = PlausibleBounds()


@dataclass(frozen=True)
class LoadReport:
    """What ``load_amazon`` read, dropped and repaired.

    ``dropped`` counts rows by the first reason that applies, in this order:
    ``no_asin``, ``no_price`` (neither price is a positive number),
    ``duplicate_asin`` (a later listing of a product already kept);
    ``rows_read == rows_kept + sum(dropped.values())``. ``repaired`` counts, on
    the kept rows, the cells filled in or fixed, as ``field/reason``:
    ``rating/junk``, ``n_ratings/junk``, ``price/missing`` (no discount price),
    ``list_price/missing`` and ``list_price/below_price``. Both always hold every
    key, zero counts included, so that the reports of two loads line up.
    ``implausible`` counts the kept rows past ``PLAUSIBLE``'s bounds (every key of
    ``PlausibleBounds.checks``, zeros included; such rows are kept as loaded) and
    ``examples`` names up to ``EXAMPLES`` of each, as ``ASIN in file: value``.
    """

    source: str
    files_read: int
    header_only_files: tuple[str, ...]
    rows_read: int
    rows_kept: int
    dropped: dict[str, int]
    repaired: dict[str, int]
    implausible: dict[str, int]
    examples: dict[str, tuple[str, ...]]

    def lines(self) -> list[str]:
        """The report as short human-readable lines, for logs and the CLI."""
        out = [
            f"source: {self.source}",
            f"files read: {self.files_read} ({len(self.header_only_files)} header-only)",
            f"rows read: {self.rows_read:,}, kept: {self.rows_kept:,}",
        ]
        out += [f"dropped {reason}: {n:,}" for reason, n in self.dropped.items()]
        out += [f"repaired {field}: {n:,}" for field, n in self.repaired.items()]
        out += [
            f"implausible {check}: {n:,}"
            + (f" (e.g. {'; '.join(self.examples[check])})" if n else "")
            for check, n in self.implausible.items()
        ]
        return out


def load_amazon(path: str | Path) -> tuple[Catalog, LoadReport]:
    """Read one Amazon CSV, or every ``*.csv`` directly in a folder, into a catalog.

    Files are read in name order, so that "keep the first listing of a product"
    is deterministic. Rules, all vectorised:

    - prices: ``₹`` and ``,`` are stripped; anything else that is not a positive
      number counts as missing. No discount price means no discount (price =
      list price); no list price means list price = price; a price above its list
      price raises the list price to the price. A row with neither price is dropped.
    - ``ratings`` outside ``[1, 5]`` or not a number (``Get``, ``FREE``, ``₹99``)
      becomes missing (``nan``); ``no_of_ratings`` that is not a count (or is above
      ``MAX_COUNT``, 10^12) becomes 0.
    - the item id is the ASIN after ``/dp/`` in ``link``; rows without one are
      dropped, and of the rows that remain only the first listing of an ASIN is kept.

    Raises ``DataError`` (one line naming the file) when the path is missing or
    unreadable, a folder has no CSV, a file is not CSV or lacks a required column,
    or no row survives.
    """
    source = Path(path)
    files = _csv_files(source)
    frames = [_read_csv(file) for file in files]
    header_only = tuple(file.name for file, frame in zip(files, frames, strict=True) if frame.empty)
    rows = pd.concat(frames, ignore_index=True)
    origin = pd.Series(np.repeat([file.name for file in files], [len(f) for f in frames]))

    asin = rows["link"].str.extract(_ASIN, expand=False)
    discount_price = _parse_money(rows["discount_price"])
    actual_price = _parse_money(rows["actual_price"])

    no_asin = asin.isna()
    no_price = ~no_asin & discount_price.isna() & actual_price.isna()
    duplicate = ~no_asin & ~no_price & asin.where(~no_price).duplicated(keep="first")
    keep = ~(no_asin | no_price | duplicate)
    if not keep.any():
        raise _nothing_kept(source)

    rows, asin, origin = rows[keep], asin[keep], origin[keep]
    zero_price = (_money_value(rows["discount_price"]) <= 0) | (
        _money_value(rows["actual_price"]) <= 0
    )
    discount_price, actual_price = discount_price[keep], actual_price[keep]
    price = discount_price.fillna(actual_price)
    list_price = np.fmax(actual_price.fillna(price), price)
    rating, rating_junk = _parse_rating(rows["ratings"])
    n_ratings, n_ratings_junk = _parse_count(rows["no_of_ratings"])

    catalog = Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": asin,
                "name": rows["name"],
                "main_category": rows["main_category"],
                "sub_category": rows["sub_category"],
                "price": price,
                "list_price": list_price,
                "discount": np.clip(1.0 - price / list_price, 0.0, None),
                "rating": rating,
                "n_ratings": n_ratings,
            }
        )
    )
    implausible, examples = _implausible(catalog, origin.to_numpy(), zero_price.to_numpy())
    report = LoadReport(
        source=str(source),
        files_read=len(files),
        header_only_files=header_only,
        rows_read=len(keep),
        rows_kept=len(catalog),
        dropped={
            "no_asin": int(no_asin.sum()),
            "no_price": int(no_price.sum()),
            "duplicate_asin": int(duplicate.sum()),
        },
        repaired={
            "rating/junk": int(rating_junk.sum()),
            "n_ratings/junk": int(n_ratings_junk.sum()),
            "price/missing": int(discount_price.isna().sum()),
            "list_price/missing": int(actual_price.isna().sum()),
            "list_price/below_price": int((actual_price < price).sum()),
        },
        implausible=implausible,
        examples=examples,
    )
    return catalog, report


def _implausible(
    catalog: Catalog, origin: np.ndarray, zero_price: np.ndarray
) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """Per ``PlausibleBounds.checks`` key, how many of the catalog's items are past the bound
    and up to ``EXAMPLES`` of them, the farthest past it first, as ``ASIN in file: value``;
    ``origin`` is each item's file, ``zero_price`` where its row had a price of 0 or below."""
    c = catalog

    def money(value: float) -> str:
        return f"₹{value:,.2f}".removesuffix(".00")

    # Per check: the items flagged, the value that orders the examples (zero prices are all
    # as bad) and how an example shows it.
    checks: dict[str, tuple[np.ndarray, np.ndarray, Callable[[int], str]]] = {
        "list_price/above_max": (
            c.list_price > PLAUSIBLE.max_list_price,
            c.list_price,
            lambda i: money(c.list_price[i]),
        ),
        "discount/above_max": (
            c.discount > PLAUSIBLE.max_discount,
            c.discount,
            lambda i: f"{c.discount[i]:.2%} off ({money(c.price[i])} of {money(c.list_price[i])})",
        ),
        "n_ratings/above_max": (
            c.n_ratings > PLAUSIBLE.max_n_ratings,
            c.n_ratings,
            lambda i: f"{c.n_ratings[i]:,} ratings",
        ),
        "price/zero_or_negative": (
            zero_price,
            np.zeros(len(c)),
            lambda i: f"kept at price {money(c.price[i])}, list price {money(c.list_price[i])}",
        ),
    }
    counts, examples = {}, {}
    for check, (flagged, order, shown) in checks.items():
        where = np.flatnonzero(flagged)
        counts[check] = len(where)
        worst = where[np.argsort(-order[where], kind="stable")][:EXAMPLES]
        examples[check] = tuple(f"{c.item_id[i]} in {origin[i]}: {shown(i)}" for i in worst)
    return counts, examples


# What ``check_amazon`` reads of each file: enough to see a file that is not the format.
CHECK_ROWS = 100


def check_amazon(path: str | Path) -> None:
    """Raise the ``DataError`` that ``load_amazon(path)`` would, reading only the first
    ``CHECK_ROWS`` rows of each file: a scenario file's catalogs are checked this way before
    any cell runs, in a fraction of a second for the whole scrape (110 files). A problem
    further into a file is found by the cells that load it."""
    source = Path(path)
    frames = [_read_csv(file, CHECK_ROWS) for file in _csv_files(source)]
    if all(len(frame) < CHECK_ROWS for frame in frames):  # every row was read
        rows = pd.concat(frames, ignore_index=True)
        has_asin = rows["link"].str.extract(_ASIN, expand=False).notna()
        priced = _parse_money(rows["discount_price"]).notna()
        priced |= _parse_money(rows["actual_price"]).notna()
        if not (has_asin & priced).any():
            raise _nothing_kept(source)


def _nothing_kept(source: Path) -> DataError:
    return DataError(f"{shown_path(source)}: no row has both an ASIN in its link and a price")


def _csv_files(path: Path) -> list[Path]:
    """The file itself, or the ``*.csv`` files directly in the folder, sorted by name."""
    try:
        if not path.exists():
            raise DataError(f"{shown_path(path)}: no such file or folder")
        if path.is_file():
            return [path]
    except OSError as err:  # a name too long, a folder that may not be searched
        raise os_error(path, err, "cannot use it as a catalog", DataError) from None
    try:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    except OSError as err:
        raise os_error(path, err, "cannot list folder", DataError) from None
    if not files:
        raise DataError(f"{shown_path(path)}: folder holds no .csv file")
    return files


def _read_csv(file: Path, nrows: int | None = None) -> pd.DataFrame:
    """The required columns of one CSV (its first ``nrows`` rows if given), every cell as
    text ("" when empty)."""
    try:
        frame = pd.read_csv(
            file,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            nrows=nrows,
        )
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{file}: file is empty, expected a header row") from err
    except pd.errors.ParserError as err:
        line = _PANDAS_LINE.search(str(err))
        where = f" at line {line.group(1)}" if line else ""
        raise DataError(f"{file}: not parseable as CSV{where}") from err
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 text (byte {err.start})") from err
    except OSError as err:
        raise os_error(file, err, "cannot read", DataError) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{file}: missing required column(s): {', '.join(missing)}")
    return frame[list(REQUIRED_COLUMNS)]


def _money_value(text: pd.Series) -> pd.Series:
    """Rupee amounts such as ``₹32,999`` as floats, whatever their sign; junk as nan."""
    return pd.to_numeric(
        text.str.replace("₹", "", regex=False).str.replace(",", "", regex=False).str.strip(),
        errors="coerce",
    )


def _parse_money(text: pd.Series) -> pd.Series:
    """Rupee amounts such as ``₹32,999`` as floats; empty, junk or non-positive as nan."""
    value = _money_value(text)
    return value.where((value > 0) & np.isfinite(value))


def _parse_rating(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Star ratings in ``[1, 5]`` (nan otherwise), and where a non-empty cell was junk."""
    value = pd.to_numeric(text.str.strip(), errors="coerce")
    valid = value.between(1.0, 5.0)
    return value.where(valid), ~valid & (text.str.strip() != "")


MAX_COUNT = 10**12


def _parse_count(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Counts such as ``2,255`` (0 when empty or junk), and where a non-empty cell was junk.

    A count above ``MAX_COUNT`` is junk too: no product has that many ratings, and a
    larger number (``1e30``, ``9223372036854775808``) would overflow int64.
    """
    cleaned = text.str.replace(",", "", regex=False).str.strip()
    value = pd.to_numeric(cleaned, errors="coerce")
    valid = (value >= 0) & (value % 1 == 0) & (value <= MAX_COUNT)
    return value.where(valid, 0).astype(np.int64), ~valid & (cleaned != "")
