"""A printable summary of a catalog: what was loaded, and how its columns are distributed."""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table

from fedarena.data.amazon import PLAUSIBLE, LoadReport
from fedarena.data.catalog import Catalog

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
TOP_CATEGORIES = 10
# Star buckets of the rating histogram; the last one includes 5.
RATING_EDGES = (1.0, 2.0, 3.0, 4.0, 4.5, 5.0)
RATING_LABELS = ("[1, 2)", "[2, 3)", "[3, 4)", "[4, 4.5)", "[4.5, 5]")


def catalog_summary(catalog: Catalog, report: LoadReport | None = None) -> RenderableType:
    """Tables describing ``catalog`` and, when given, the load ``report``, for rich to print."""
    tables = [] if report is None else [_report_table(report), _implausible_table(report)]
    tables += [
        _overview_table(catalog),
        _quantile_table(catalog),
        _rating_table(catalog),
        _category_table(catalog),
    ]
    return Group(*tables)


def _report_table(report: LoadReport) -> Table:
    """Files and rows read, and every drop and repair with its count."""
    table = Table("load", "count", title=f"Load report: {report.source}", title_justify="left")
    table.add_row("files read", f"{report.files_read:,}")
    table.add_row("header-only files", f"{len(report.header_only_files):,}")
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("rows kept", f"{report.rows_kept:,}")
    for reason, n in report.dropped.items():
        table.add_row(f"dropped: {reason}", f"{n:,}")
    for field, n in report.repaired.items():
        table.add_row(f"repaired: {field}", f"{n:,}")
    return table


def _implausible_table(report: LoadReport) -> Table:
    """Kept values past ``PLAUSIBLE``'s bounds: how many, and a few items to look at."""
    table = Table(
        "implausible",
        "items",
        "examples",
        title="Implausible values (kept as loaded, flagged)",
        title_justify="left",
    )
    for check, what in PLAUSIBLE.checks().items():
        table.add_row(what, f"{report.implausible[check]:,}", "\n".join(report.examples[check]))
    return table


def _overview_table(catalog: Catalog) -> Table:
    """Sizes (categories that have items) and the shares that say how complete the catalog is."""
    table = Table("catalog", "value", title="Catalog", title_justify="left")
    table.add_row("items", f"{len(catalog):,}")
    table.add_row("main categories", f"{len(np.unique(catalog.main_category)):,}")
    table.add_row("sub-categories", f"{len(np.unique(catalog.sub_category)):,}")
    table.add_row("share without rating", f"{1 - catalog.has_rating.mean():.1%}")
    table.add_row("share discounted", f"{(catalog.discount > 0).mean():.1%}")
    return table


def _quantile_table(catalog: Catalog) -> Table:
    """Quantiles of the numeric columns (rating over rated items only)."""
    columns = {
        "price (₹)": catalog.price,
        "list price (₹)": catalog.list_price,
        "discount": catalog.discount,
        "rating": catalog.rating[catalog.has_rating],
        "n_ratings": catalog.n_ratings.astype(np.float64),
    }
    headers = ("column", *(_level(q) for q in QUANTILES))
    table = Table(*headers, title="Quantiles", title_justify="left")
    for name, values in columns.items():
        cells = (_number(v) for v in np.quantile(values, QUANTILES)) if len(values) else ()
        table.add_row(name, *cells)
    return table


def _rating_table(catalog: Catalog) -> Table:
    """How many items fall in each star bucket, and how many have no rating."""
    rated = catalog.rating[catalog.has_rating]
    buckets, _ = np.histogram(rated, bins=RATING_EDGES)
    table = Table("rating", "items", "share", title="Ratings", title_justify="left")
    counts = [*buckets, len(catalog) - len(rated)]
    for label, n in zip([*RATING_LABELS, "missing"], counts, strict=True):
        table.add_row(label, f"{n:,}", f"{n / len(catalog):.1%}")
    return table


def _category_table(catalog: Catalog) -> Table:
    """The largest main categories with their size, typical price and rating coverage."""
    counts = np.bincount(catalog.main_category, minlength=catalog.n_main)
    present = int((counts > 0).sum())
    title = f"Top {min(TOP_CATEGORIES, present)} of {present} main categories"
    table = Table(
        "main category",
        "items",
        "share",
        "sub-categories",
        "median price (₹)",
        "rated",
        title=title,
        title_justify="left",
    )
    for code in np.argsort(-counts, kind="stable")[: min(TOP_CATEGORIES, present)]:
        mine = catalog.main_category == code
        table.add_row(
            catalog.main_categories[code],
            f"{counts[code]:,}",
            f"{counts[code] / len(catalog):.1%}",
            f"{len(np.unique(catalog.sub_category[mine])):,}",
            _number(float(np.median(catalog.price[mine]))),
            f"{catalog.has_rating[mine].mean():.0%}",
        )
    return table


def _level(q: float) -> str:
    """Column header of a quantile level: min, max or a percentile."""
    return {0.0: "min", 1.0: "max"}.get(q, f"{q:.0%}")


def _number(value: float) -> str:
    """Three significant digits, with thousands separators for large values."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
