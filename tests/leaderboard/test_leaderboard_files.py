"""``build_leaderboard``: every rendering is written and says the same thing."""

from __future__ import annotations

import csv
import json

import pytest

from fedarena.errors import FedarenaError
from fedarena.leaderboard import METHOD, build_leaderboard
from fedarena.leaderboard.build import RUNS_END, RUNS_START
from fedarena.matrix.export import cells_json
from fedarena.matrix.store import ResultStore


def test_every_rendering_is_written(store_folder, tmp_path):
    out = tmp_path / "board"
    document = build_leaderboard([store_folder.folder], out)
    assert document == json.loads((out / "leaderboard.json").read_text())
    assert document["counts"] == {"done": 98, "failed": 4, "skipped": 6}
    assert [p["label"] for p in document["panels"]] == ["fedavg", "fedprox"]
    markdown = (out / "LEADERBOARD.md").read_text()
    assert METHOD in markdown
    for panel in document["panels"]:
        assert {r["defense"] for r in panel["ranking"]} == set(store_folder.defenses)
        assert panel["attacks"] == list(store_folder.attacks)
        for name in panel["figures"].values():
            assert f"]({name})" in markdown
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for defense in store_folder.defenses:
        assert f"| {defense} |" in markdown.replace("\\|", "|")
    assert "| scenarios/x.toml | x | 108 | 108 | 2 | 2 | 12.6 min |" in markdown
    ranking = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert len(ranking) == 2 * len(store_folder.defenses)
    first = document["panels"][0]["ranking"][0]
    assert float(ranking[0]["robust"]) == pytest.approx(first["robust"]["mean"])
    assert len(list(csv.DictReader((out / "cells.csv").open()))) == 108


def test_ranking_orders_by_robust_score(store_folder, tmp_path):
    document = build_leaderboard([store_folder.folder], tmp_path / "board")
    for panel in document["panels"]:
        means = [r["robust"]["mean"] for r in panel["ranking"]]
        assert means == sorted(means, reverse=True)
        assert [r["position"] for r in panel["ranking"]] == [1, 2, 3]
        # Each row's label: its own rank only when the paired test against the row above,
        # which the json carries, is significant after Holm's correction.
        for above, row in zip(panel["ranking"], panel["ranking"][1:], strict=False):
            test = row["compared_with_above"]
            assert test["above"] == above["defense"] and 0 <= test["p_holm"] <= 1
            assert row["rank"].endswith("=") != test["distinct"]
        assert all(len(r["cell_keys"]) == r["cells"]["expected"] for r in panel["ranking"])
        chain = next(r for r in panel["ranking"] if r["defense"].endswith("krum"))
        assert chain["cells"]["failed"] == 2  # seed 1's scramble, at both fractions
        assert chain["robust"]["per_seed"]["1"] == 0.0


FIGURES = ("heatmap-fedavg-utility.png", "heatmap-fedavg-attack-success.png", "cd-fedavg.png")


def test_the_same_store_gives_the_same_files(store_folder, tmp_path):
    build_leaderboard([store_folder.folder], tmp_path / "a")
    build_leaderboard([store_folder.folder], tmp_path / "b")
    for name in ("leaderboard.json", "LEADERBOARD.md", "index.html", *FIGURES):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_sources_merge_and_exports_count_as_sources(store_folder, tmp_path):
    with ResultStore.in_folder(store_folder.folder) as store:
        records, sessions = store.records(), store.sessions()
    half = len(records) // 2
    (tmp_path / "first.json").write_text(cells_json(records[:half], sessions))
    (tmp_path / "second.json").write_text(cells_json(records[half - 5 :], []))
    merged = build_leaderboard([tmp_path / "first.json", tmp_path / "second.json"], tmp_path / "m")
    whole = build_leaderboard([store_folder.folder], tmp_path / "w")
    assert merged["panels"] == whole["panels"]
    assert len(merged["cells"]) == len(records)


def test_doc_runs_block_is_rewritten_and_needs_its_markers(store_folder, tmp_path):
    doc = tmp_path / "matrix.md"
    doc.write_text(f"# Matrix\n\nbefore\n{RUNS_START}\nold table\n{RUNS_END}\nafter\n")
    build_leaderboard([store_folder.folder], tmp_path / "board", doc=doc)
    text = doc.read_text()
    assert text.startswith("# Matrix\n\nbefore\n") and text.endswith("after\n")
    assert "old table" not in text and "| scenarios/x.toml | x | 108 | 108 |" in text
    doc.write_text("no markers\n")
    with pytest.raises(FedarenaError, match="has no <!-- matrix-runs:start -->"):
        build_leaderboard([store_folder.folder], tmp_path / "board", doc=doc)


def test_an_empty_store_has_nothing_to_rank(tmp_path):
    ResultStore.in_folder(tmp_path).close()
    with pytest.raises(FedarenaError, match="no cells to rank yet"):
        build_leaderboard([tmp_path], tmp_path / "board")
