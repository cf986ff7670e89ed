"""Derive the built-in catalog generator's marginals from the real Amazon CSVs.

Writes ``src/fedarena/data/amazon_marginals.json``, which ships with the
package, so that ``fedarena.data.builtin.generate_catalog`` never needs the
data at run time. Run from the repository root:

    .venv/bin/python scripts/calibrate_catalog.py [PATH_TO_AMAZON_FOLDER]

What is kept, and why:

- main-category mix, and the sub-category mix within each main category;
- per main category: list price quantiles (in ₹, sampled in log space), the
  share of items without a discount and the quantiles of the positive
  discounts, the share of items without a rating, and number-of-ratings
  quantiles (of the rated items, sampled in log space). The missing-rating
  share (9% to 83%) and the typical number of ratings (a median of 3 to 125)
  differ a lot between categories;
- the rating histogram over the observed 0.1-step values, conditional on a
  bucket of the number of ratings: an item with one rating has an integer
  rating, half of them 5.0, while items with 100+ ratings cluster around 4.1.

Left out, as weaker: within a category, discount and list price are rank-correlated
by -0.24 to +0.46 depending on the category, rating and discount by about -0.15.

Quantiles are taken at fixed probability levels from 0.1% to 99.9%, so that
sampling by inverse CDF winsorises the scrape's absurd extremes (a list price
of ₹9,899,999,999).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from fedarena.data.amazon import LoadReport, load_amazon

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "amazon-products-2023"
DEFAULT_OUTPUT = REPO / "src" / "fedarena" / "data" / "amazon_marginals.json"

LEVELS = (0.001, 0.005, 0.01, *(round(0.02 * k, 2) for k in range(1, 50)), 0.99, 0.995, 0.999)
RATING_VALUES = tuple(round(0.1 * k, 1) for k in range(10, 51))
# Lower bounds of the number-of-ratings buckets that the rating histogram is conditional on.
N_RATINGS_BUCKETS = (1, 2, 5, 20, 100)


def quantiles(values: np.ndarray, digits: int) -> list[float]:
    """Quantiles of ``values`` at ``LEVELS``, rounded for a small, stable JSON file.

    Each quantile is an observed value (no interpolation), so that the scrape's
    many repeated values (a list price of ₹999, 1 rating, a discount of
    1 - 999/1599) come out exactly, and the generator repeats them.
    """
    return [round(float(q), digits) for q in np.quantile(values, LEVELS, method="inverted_cdf")]


def shares(labels: pd.Series) -> dict[str, float]:
    """Share of each label, by label name, rounded to 6 decimals."""
    counts = labels.value_counts(normalize=True, sort=False).sort_index()
    return {str(k): round(float(v), 6) for k, v in counts.items()}


def category_marginals(items: pd.DataFrame, share: float) -> dict[str, object]:
    """The marginals of one main category's items; ``share`` is its share of all items."""
    rated = items[items["rating"].notna()]
    positive_discount = items["discount"][items["discount"] > 0]
    return {
        "share": share,
        "sub_categories": shares(items["sub_category"]),
        "list_price": quantiles(items["list_price"].to_numpy(), digits=2),
        "discount_zero_share": round(float((items["discount"] == 0).mean()), 4),
        "discount_positive": quantiles(positive_discount.to_numpy(), digits=6),
        "rating_missing_share": round(float(items["rating"].isna().mean()), 4),
        "n_ratings": [int(q) for q in quantiles(rated["n_ratings"].to_numpy(), digits=0)],
    }


def rating_histograms(items: pd.DataFrame) -> list[list[float]]:
    """Per number-of-ratings bucket, the share of each value of ``RATING_VALUES``."""
    rated = items[items["rating"].notna()]
    bucket = np.searchsorted(N_RATINGS_BUCKETS, rated["n_ratings"].to_numpy(), side="right") - 1
    step = np.rint(rated["rating"].to_numpy() * 10).astype(int) - 10
    counts = np.zeros((len(N_RATINGS_BUCKETS), len(RATING_VALUES)))
    np.add.at(counts, (bucket, step), 1)
    return [[round(float(p), 5) for p in row / row.sum()] for row in counts]


def marginals(items: pd.DataFrame, report: LoadReport, folder_name: str) -> dict[str, object]:
    """Everything the built-in generator samples from, as a JSON-ready dict."""
    mains = shares(items["main_category"])
    categories = {
        str(name): category_marginals(group, mains[str(name)])
        for name, group in items.groupby("main_category", sort=True)
    }
    return {
        "source": (
            f"Amazon Products Sales Dataset 2023 (amazon.in, March 2023; Kaggle, Lokesh Parab),"
            f" folder {folder_name}: {report.files_read} CSV files, {report.rows_read:,} rows,"
            f" {report.rows_kept:,} products after fedarena.data.amazon.load_amazon"
        ),
        "generated_by": "scripts/calibrate_catalog.py",
        "n_items": report.rows_kept,
        "levels": list(LEVELS),
        "rating_values": list(RATING_VALUES),
        "n_ratings_buckets": list(N_RATINGS_BUCKETS),
        "rating_histograms": rating_histograms(items),
        "main_categories": categories,
    }


def to_json(result: dict[str, object]) -> str:
    """Indented JSON with every list of numbers on one line, for short, readable diffs."""
    text = json.dumps(result, indent=1, ensure_ascii=False)
    one_line = re.sub(r"\[\s+([-0-9.e,\s]+?)\s+\]", lambda m: f"[{' '.join(m[1].split())}]", text)
    return one_line + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    catalog, report = load_amazon(args.data)
    result = marginals(catalog.to_frame(), report, args.data.resolve().name)
    text = to_json(result)
    args.output.write_text(text, encoding="utf-8")
    print("\n".join(report.lines()))
    print(f"wrote {args.output} ({len(text.encode()) / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
