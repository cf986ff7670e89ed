"""Amazon catalog CSVs with mutated headers and rows: they load into a catalog whose every
number is in its documented range, or are refused in one line (``DataError``)."""

from __future__ import annotations

import csv
import io

import numpy as np
from fuzz_settings import fuzz
from hypothesis import event, given
from hypothesis import strategies as st

from fedarena.data.amazon import load_amazon
from fedarena.errors import FedarenaError

HEADER = [
    "name",
    "main_category",
    "sub_category",
    "image",
    "link",
    "ratings",
    "no_of_ratings",
    "discount_price",
    "actual_price",
]
GOOD_ROW = ["Kettle", "appliances", "Kitchen", "img", "https://x/dp/B0AAAAAAAA", "4.2"]
GOOD_ROW += ["2,255", "₹1,499", "₹2,990"]
FIELDS = st.one_of(
    st.sampled_from(["", "nan", "-1", "0", "4.2", "5.1", "1e30", "1e308", "-1e308", "inf"]),
    st.sampled_from(["9223372036854775808", "2,255", "₹32,999", "₹", "₹-5", "₹1e400", "Get"]),
    st.sampled_from(["https://x/dp/B0AAAAAAAA", "https://x/dp/B0AAAAAAAA", '"', "a\nb"]),
    st.text(max_size=6),
)


@st.composite
def catalog_csv(draw) -> str:
    header = list(HEADER)
    mutation = draw(st.sampled_from(["none", "drop", "duplicate", "shuffle", "headerless"]))
    if mutation == "drop":
        header.pop(draw(st.integers(0, len(header) - 1)))
    elif mutation == "duplicate":
        header.append(draw(st.sampled_from(HEADER)))
    elif mutation == "shuffle":
        header = draw(st.permutations(header))
    rows = []
    for number in range(draw(st.integers(0, 6))):
        row = [f"{value} {number}" if i == 0 else value for i, value in enumerate(GOOD_ROW)]
        row[4] = f"https://x/dp/B0{number:08d}"
        for _ in range(draw(st.integers(0, 3))):
            row[draw(st.integers(0, len(row) - 1))] = draw(FIELDS)
        rows.append(row[: len(header)] if draw(st.booleans()) else row)
    out = io.StringIO()
    writer = csv.writer(out)
    if mutation != "headerless":
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@fuzz
@given(text=catalog_csv())
def test_a_catalog_csv_loads_in_range_or_is_refused_in_one_line(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "Kitchen.csv"
    path.write_text(text)
    try:
        catalog, _ = load_amazon(path)
    except FedarenaError as err:
        event("refused")
        assert str(err) and "\n" not in str(err).strip()
        return
    event("loaded")
    assert len(catalog.item_id) >= 1
    assert (catalog.n_ratings >= 0).all()
    assert np.isfinite(catalog.price).all() and (catalog.price > 0).all()
    assert (catalog.list_price >= catalog.price).all()
    assert ((catalog.discount >= 0) & (catalog.discount < 1)).all()
    rated = ~np.isnan(catalog.rating)
    assert ((catalog.rating[rated] >= 1) & (catalog.rating[rated] <= 5)).all()
