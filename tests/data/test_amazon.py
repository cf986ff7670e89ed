"""The Amazon CSV loader, on hand-written dirty files and on the real shared folder."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from fedarena.data.amazon import CHECK_ROWS, LoadReport, check_amazon, load_amazon
from fedarena.data.catalog import Catalog
from fedarena.data.summary import catalog_summary
from fedarena.errors import DataError

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data" / "amazon-products-2023"
COLUMNS = (
    "name",
    "main_category",
    "sub_category",
    "image",
    "link",
    "ratings",
    "no_of_ratings",
    "discount_price",
    "actual_price",
)


def link(asin: str) -> str:
    return f"https://www.amazon.in/Some-Product/dp/{asin}/ref=sr_1_4?qid=1&s=kitchen"


# (name, link, ratings, no_of_ratings, discount_price, actual_price): one junk case a
# row, with what the loader must make of it.
FIRST_FILE = [
    # rupees and separators: price 32999, list 58990, 2255 ratings
    ("Widget, big", link("B000000001"), "4.2", "2,255", "₹32,999", "₹58,990"),
    # Get / FREE Delivery, no discount price: rating nan, n 0, price = list = 1000
    ("Gadget", link("B000000002"), "Get", "FREE Delivery by Amazon", "", "₹1,000"),
    # FREE / Only 1 left: rating nan, n 0
    ("Gizmo", link("B000000003"), "FREE", "Only 1 left in stock.", "₹99", "₹199"),
    # ₹99 rating / Usually dispatched, no list price: list = price = 500
    ("Thing", link("B000000004"), "₹99", "Usually dispatched in 3 to 4 weeks.", "₹500", ""),
    # no price at all: dropped (no_price), though its ASIN has a price in c.csv
    ("Priceless", link("B000000005"), "4.0", "10", "", ""),
    # no ASIN in the link: dropped (no_asin)
    ("Linkless", "https://www.amazon.in/s?k=ac", "4.0", "10", "₹5", "₹9"),
    # price above list price: list raised to 300, discount 0
    ("Odd", link("B000000007"), "3.5", "7", "₹300", "₹250"),
    # empty rating fields are missing, not junk; Indian digit grouping
    ("Quiet", link("B000000008"), "", "", "₹1,23,456", "₹2,00,000"),
    # large count
    ("Popular", link("B000000009"), "4.0", "1,234,567", "₹80", "₹100"),
]
THIRD_FILE = [
    # same product as the first row of a.csv: dropped (duplicate_asin)
    ("Widget again", link("B000000001"), "4.1", "3", "₹1", "₹2"),
    # first priced listing of B000000005: kept, price = list = 700
    ("Priceless found", link("B000000005"), "5.0", "1", "", "₹700"),
]


def write(path: Path, rows: list[tuple[str, ...]], columns: tuple[str, ...] = COLUMNS) -> Path:
    """A CSV as the scrape writes it, quoted where needed; the sub-category is the file's stem."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for name, url, ratings, count, discount_price, actual_price in rows:
            writer.writerow(
                {
                    "name": name,
                    "main_category": "appliances",
                    "sub_category": path.stem,
                    "image": "https://m.media-amazon.com/images/I/x.jpg",
                    "link": url,
                    "ratings": ratings,
                    "no_of_ratings": count,
                    "discount_price": discount_price,
                    "actual_price": actual_price,
                }
            )
    return path


@pytest.fixture
def dirty_folder(tmp_path: Path) -> Path:
    write(tmp_path / "a.csv", FIRST_FILE)
    write(tmp_path / "b.csv", [])
    write(tmp_path / "c.csv", THIRD_FILE)
    (tmp_path / "notes.txt").write_text("not a csv\n")
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested" / "d.csv", [("Hidden", link("B00000000X"), "", "", "₹1", "₹2")])
    return tmp_path


def by_id(catalog: Catalog) -> dict[str, dict[str, object]]:
    frame = catalog.to_frame().set_index("item_id")
    return frame.to_dict(orient="index")


def test_dirty_folder_report_counts_every_drop_and_repair(dirty_folder: Path) -> None:
    _, report = load_amazon(dirty_folder)
    assert report == LoadReport(
        source=str(dirty_folder),
        files_read=3,
        header_only_files=("b.csv",),
        rows_read=11,
        rows_kept=8,
        dropped={"no_asin": 1, "no_price": 1, "duplicate_asin": 1},
        repaired={
            "rating/junk": 3,
            "n_ratings/junk": 3,
            "price/missing": 2,
            "list_price/missing": 1,
            "list_price/below_price": 1,
        },
        implausible={
            "list_price/above_max": 0,
            "discount/above_max": 0,
            "n_ratings/above_max": 0,
            "price/zero_or_negative": 0,
        },
        examples={
            "list_price/above_max": (),
            "discount/above_max": (),
            "n_ratings/above_max": (),
            "price/zero_or_negative": (),
        },
    )
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    assert "dropped duplicate_asin: 1" in report.lines()


def test_dirty_folder_values_are_parsed_and_repaired(dirty_folder: Path) -> None:
    items = by_id(load_amazon(dirty_folder)[0])
    assert list(items) == [f"B00000000{k}" for k in (1, 2, 3, 4, 7, 8, 9, 5)]
    first = items["B000000001"]
    assert (first["name"], first["sub_category"]) == ("Widget, big", "a")
    assert (first["price"], first["list_price"], first["n_ratings"]) == (32999, 58990, 2255)
    assert first["discount"] == pytest.approx(1 - 32999 / 58990)
    assert first["rating"] == 4.2
    for junk in ("B000000002", "B000000003", "B000000004", "B000000008"):
        assert math.isnan(items[junk]["rating"]) and items[junk]["n_ratings"] == 0
    assert (items["B000000002"]["price"], items["B000000002"]["list_price"]) == (1000, 1000)
    assert items["B000000002"]["discount"] == 0
    assert (items["B000000004"]["price"], items["B000000004"]["list_price"]) == (500, 500)
    assert (items["B000000007"]["price"], items["B000000007"]["list_price"]) == (300, 300)
    assert (items["B000000008"]["price"], items["B000000008"]["list_price"]) == (123456, 200000)
    assert items["B000000009"]["n_ratings"] == 1_234_567
    found = items["B000000005"]
    assert (found["name"], found["price"], found["rating"]) == ("Priceless found", 700, 5.0)


def test_single_file_without_image_column(tmp_path: Path) -> None:
    columns = tuple(c for c in COLUMNS if c != "image")
    catalog, report = load_amazon(write(tmp_path / "one.csv", FIRST_FILE[:1], columns))
    assert len(catalog) == 1 and report.files_read == 1
    assert catalog.item_id.tolist() == ["B000000001"]


def test_missing_columns_are_named(tmp_path: Path) -> None:
    columns = tuple(c for c in COLUMNS if c not in ("ratings", "actual_price"))
    write(tmp_path / "short.csv", [], columns)
    expected = r"short\.csv: missing required column\(s\): ratings, actual_price$"
    with pytest.raises(DataError, match=expected):
        load_amazon(tmp_path)


def test_folder_without_csv_files(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello\n")
    with pytest.raises(DataError, match=r"folder holds no \.csv file"):
        load_amazon(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: no such file or folder"):
        load_amazon(tmp_path / "nowhere")


def test_unparseable_csv_names_file_and_line(tmp_path: Path) -> None:
    good = write(tmp_path / "broken.csv", FIRST_FILE[:1]).read_text(encoding="utf-8")
    (tmp_path / "broken.csv").write_text(good + "a,b,c,d,e,f,g,h,i,j,k,l\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.csv: not parseable as CSV at line 3"):
        load_amazon(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        load_amazon(tmp_path)


def test_only_header_only_files(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", [])
    with pytest.raises(DataError, match="no row has both an ASIN in its link and a price"):
        load_amazon(tmp_path)


def _refusals(path: Path) -> tuple[str, str]:
    """What ``check_amazon`` and ``load_amazon`` say of ``path``."""
    said = []
    for read in (check_amazon, load_amazon):
        with pytest.raises(DataError) as caught:
            read(path)
        said.append(str(caught.value))
    return said[0], said[1]


def _text_file(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d / "nowhere",
        lambda d: d,  # a folder without CSV files
        lambda d: Path("/dev/null"),
        lambda d: write(d / "header.csv", []),
        lambda d: _text_file(d, "x.csv", ""),
        lambda d: _text_file(d, "pw.csv", "root:x:0:0\nlp:x:7:7:lp,,,:/var:/bin/sh\n"),
        lambda d: d / ("n" * 5000),  # a name too long for the file system
    ],
    ids=["missing", "no-csv", "dev-null", "header-only", "empty", "not-csv", "name-too-long"],
)
def test_the_check_refuses_what_the_loader_refuses_with_the_same_line(tmp_path, make) -> None:
    checked, loaded = _refusals(make(tmp_path))
    assert checked == loaded and "\n" not in checked and len(checked) < 300


def test_the_check_accepts_a_dirty_folder_the_loader_accepts(dirty_folder: Path) -> None:
    check_amazon(dirty_folder)
    check_amazon(dirty_folder / "a.csv")


def test_the_check_reads_only_the_first_rows(tmp_path: Path) -> None:
    """Junk past ``CHECK_ROWS`` unpriced rows is for the cells to find: the check stays fast."""
    rows = [("Priceless", link(f"B{i:09d}"), "", "", "", "") for i in range(CHECK_ROWS)]
    write(tmp_path / "late.csv", [*rows, ("Late", link("C000000001"), "", "", "₹5", "")])
    check_amazon(tmp_path)
    assert len(load_amazon(tmp_path)[0]) == 1
    write(tmp_path / "late.csv", rows)
    check_amazon(tmp_path)  # cannot tell: the loader says
    with pytest.raises(DataError, match="no row has both"):
        load_amazon(tmp_path)


def test_summary_renders_report_and_statistics(dirty_folder: Path) -> None:
    catalog, report = load_amazon(dirty_folder)
    console = Console(width=120, record=True)
    console.print(catalog_summary(catalog, report))
    text = console.export_text()
    for expected in ("dropped: duplicate_asin", "repaired: rating/junk", "Quantiles", "appliances"):
        assert expected in text


@pytest.fixture(scope="module")
def real() -> tuple[Catalog, LoadReport]:
    if not SHARED.is_dir():
        pytest.skip(f"real Amazon data not present at {SHARED.resolve()}")
    return load_amazon(SHARED)


def test_real_folder_report(real: tuple[Catalog, LoadReport]) -> None:
    _, report = real
    assert (report.files_read, len(report.header_only_files)) == (109, 27)
    assert report.rows_read == 185_793
    # 159,981 distinct ASINs; 5,748 of them are never listed with a price.
    assert report.dropped == {"no_asin": 0, "no_price": 6_119, "duplicate_asin": 25_441}
    assert report.rows_kept == 154_233
    assert report.repaired["rating/junk"] == report.repaired["n_ratings/junk"] == 3_483
    # One placeholder list price of ₹9,899,999,999, which also makes a 100 % discount.
    assert report.implausible == {
        "list_price/above_max": 1,
        "discount/above_max": 6,
        "n_ratings/above_max": 0,
        "price/zero_or_negative": 0,
    }
    assert report.examples["discount/above_max"][0] == (
        "B0BJ6T3JFN in Garden and Outdoors.csv: 100.00% off (₹589 of ₹9,899,999,999)"
    )


def test_real_folder_invariants(real: tuple[Catalog, LoadReport]) -> None:
    catalog, _ = real
    assert len(set(catalog.item_id)) == len(catalog)
    assert (catalog.n_main, catalog.n_sub) == (17, 82)
    assert (catalog.price > 0).all() and (catalog.price <= catalog.list_price).all()
    assert ((catalog.discount >= 0) & (catalog.discount < 1)).all()
    np.testing.assert_allclose(catalog.price, catalog.list_price * (1 - catalog.discount))
    rated = catalog.rating[catalog.has_rating]
    assert ((rated >= 1) & (rated <= 5)).all()
    assert (catalog.n_ratings >= 0).all()
    assert (catalog.n_ratings[~catalog.has_rating] == 0).all()


def test_rating_counts_too_large_for_int64_are_junk_not_negative():
    # The hardening campaign: 1e30, 1e308 and 2^63 loaded as -9,223,372,036,854,775,808.
    from fedarena.data.amazon import _parse_count

    counts, junk = _parse_count(
        pd.Series(["1e30", "1e308", "9223372036854775808", "1,000,000,000,000", "12"])
    )
    assert counts.tolist() == [0, 0, 0, 10**12, 12]
    assert junk.tolist() == [True, True, True, False, False]
