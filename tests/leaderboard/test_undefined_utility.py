"""``fedarena leaderboard`` on a board where no cell has a utility retained (issue #16): every
file is written with n/a, a one-line notice says why, exit 0."""

from __future__ import annotations

import json
from html import escape

import pytest

from conftest import make_record
from fedarena.cli import main
from fedarena.matrix.store import ResultStore

NOTICE = "fedarena: notice: no cell has a defined utility retained: "
FILES = ("LEADERBOARD.md", "leaderboard.json", "leaderboard.csv", "index.html", "cells.csv")


def _store(folder, reference: dict, strategies=("fedavg",)) -> None:
    """Two defenses under attacks none, promote and scramble, two seeds; the reference cells
    (none x fedavg) of the first strategy made with ``reference``, the others healthy."""
    folder.mkdir()
    with ResultStore.in_folder(folder) as store:
        for strategy in strategies:
            for seed in (0, 1):
                for defense in ("fedavg", "krum"):
                    for attack in ("none", "promote", "scramble"):
                        er = 0.3 if attack == "promote" else None
                        made = {"ndcg": 0.2, "er": er}
                        if strategy == strategies[0] and (attack, defense) == ("none", "fedavg"):
                            made |= reference
                        store.put(make_record(attack, defense, seed, strategy=strategy, **made))


@pytest.mark.parametrize(
    "reference, reason",
    [
        ({"status": "failed"}, "the 2 reference cell(s) (attack none, defense fedavg) failed"),
        ({"status": "skipped"}, "the 2 reference cell(s) (attack none, defense fedavg) were"),
        ({"ndcg": float("nan")}, "no reference cell (attack none, defense fedavg) has a finite"),
        ({"ndcg": 0.1}, "the NDCG@10 of no reference cell (attack none, defense fedavg) is above"),
    ],
    ids=["failed", "skipped", "nan", "below-popularity"],
)
def test_a_board_without_utility_is_written_with_a_notice(tmp_path, capsys, reference, reason):
    _store(tmp_path / "results", reference)
    out = tmp_path / "board"
    assert main(["leaderboard", str(tmp_path / "results"), "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(NOTICE + reason), err
    document = json.loads((out / "leaderboard.json").read_text())
    notice = err[0].removeprefix("fedarena: notice: ")
    assert document["notices"] == [notice]
    for name in FILES:
        assert (out / name).stat().st_size > 0
    for name in document["panels"][0]["figures"].values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "LEADERBOARD.md").read_text()
    assert f"> **Notice**: {notice}" in markdown
    assert "| fedavg | n/a | n/a | n/a |" in markdown  # the utility retained table
    assert escape(notice) in (out / "index.html").read_text()
    assert all(r["utility_retained"] is None for r in document["cells"])


def test_only_the_panel_without_utility_gets_a_notice(tmp_path, capsys):
    _store(tmp_path / "results", {"status": "failed"}, strategies=("fedavg", "fedprox"))
    out = tmp_path / "board"
    assert main(["leaderboard", str(tmp_path / "results"), "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "fedarena: notice: panel fedavg: no cell has a defined utility retained: the 2 "
        "reference cell(s) (attack none, defense fedavg) failed; utility retained and the "
        "scores built on it are n/a"
    ]


def test_a_board_with_utility_has_no_notice(store_folder, tmp_path, capsys):
    out = tmp_path / "board"
    assert main(["leaderboard", str(store_folder.folder), "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""
    assert json.loads((out / "leaderboard.json").read_text())["notices"] == []
    assert "Notice" not in (out / "LEADERBOARD.md").read_text()
