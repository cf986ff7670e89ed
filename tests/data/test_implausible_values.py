"""``fedarena data inspect`` flags implausible values (issue #16): a list price of
₹9,899,999,999, a discount of 1, more ratings than any product has, a price of 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedarena.cli import main
from fedarena.data.amazon import EXAMPLES, PLAUSIBLE, load_amazon

HEADER = "name,main_category,sub_category,link,ratings,no_of_ratings,discount_price,actual_price\n"


def _row(asin: str, count: str, price: str, list_price: str) -> str:
    return f'x,tools,drills,https://www.amazon.in/x/dp/{asin}/r,4.0,"{count}","{price}","{list_price}"\n'


def _shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.csv"
    path.write_text(
        HEADER
        + _row("B000000001", "12", "₹99", "₹9,899,999,999")  # the list price
        + _row("B000000002", "20,000,000", "₹500", "₹1,000")  # more ratings than plausible
        + _row("B000000003", "3", "₹0", "₹450")  # a price of 0: read as missing
        + _row("B000000004", "7", "₹1,499", "₹2,999")  # plausible
        + _row("B000000005", "5", "₹10", "₹1,00,00,000")  # at the bound: not flagged
    )
    return path


def test_data_inspect_flags_implausible_values_with_examples(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["data", "inspect", str(_shop(tmp_path))]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 4}
    expected = {
        "list price above ₹10,000,000": ("1", "B000000001 in shop.csv: ₹9,899,999,999"),
        "discount above 0.99 (price under 1% of list price)": (
            "2",
            "B000000001 in shop.csv: 100.00% off (₹99 of ₹9,899,999,999)",
        ),
        "more than 10,000,000 ratings": ("1", "B000000002 in shop.csv: 20,000,000 ratings"),
        "a price or list price of 0 or below (read as missing)": (
            "1",
            "B000000003 in shop.csv: kept at price ₹450, list price ₹450",
        ),
    }
    for check, (count, example) in expected.items():
        assert check in rows, out
        cells = [c.strip() for c in rows[check].split("│")]
        assert cells[2:4] == [count, example]
    assert "Implausible values (kept as loaded, flagged)" in out


def test_flagged_rows_are_kept_as_loaded(tmp_path):
    catalog, report = load_amazon(_shop(tmp_path))
    assert len(catalog) == report.rows_kept == 5
    assert catalog.list_price.max() == 9_899_999_999
    assert catalog.n_ratings.max() == 20_000_000
    assert report.implausible["discount/above_max"] == 2  # the bound's item too: 99.9999 % off
    assert (
        "implausible n_ratings/above_max: 1 (e.g. B000000002 in shop.csv: 20,000,000 ratings)"
        in (report.lines())
    )
    assert "implausible price/zero_or_negative: 1 (e.g. " in "\n".join(report.lines())


def test_examples_are_the_farthest_past_the_bound(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text(
        HEADER + "".join(_row(f"B00000010{k}", f"{k + 1}0,000,000", "₹5", "₹9") for k in range(5))
    )
    examples = load_amazon(path)[1].examples["n_ratings/above_max"]
    assert len(examples) == EXAMPLES
    assert [e.split(": ")[1] for e in examples] == [
        "50,000,000 ratings",
        "40,000,000 ratings",
        "30,000,000 ratings",
    ]


@pytest.mark.parametrize("check", sorted(PLAUSIBLE.checks()))
def test_every_check_is_counted_even_when_nothing_is_flagged(tmp_path, check):
    path = tmp_path / "clean.csv"
    path.write_text(HEADER + _row("B000000004", "7", "₹1,499", "₹2,999"))
    report = load_amazon(path)[1]
    assert report.implausible[check] == 0 and report.examples[check] == ()
