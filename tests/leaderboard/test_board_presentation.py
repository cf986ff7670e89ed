"""What a reader of the board sees: rank groups, tables with intervals, traceable rows, display
names, one colour per defense, privacy and detection, and the figures that need them."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from fedarena.leaderboard import build_leaderboard
from fedarena.leaderboard.document import display_name
from fedarena.leaderboard.figures import palette
from fedarena.leaderboard.markdown import comparison_text

PLUGIN, DP = "plugins/norm_trim.py:NormTrim", "dp_sgd(noise_multiplier=1.0)"  # smoke_folder's


@pytest.fixture()
def board(store_folder, tmp_path):
    out = tmp_path / "board"
    return out, build_leaderboard([store_folder.folder], out)


@pytest.fixture()
def smoke(smoke_folder, tmp_path):
    out = tmp_path / "smoke-board"
    assert (smoke_folder.plugin, smoke_folder.dp) == (PLUGIN, DP)
    return out, build_leaderboard([smoke_folder.folder], out)


def _squares(document):
    for panel in document["panels"]:
        for table in panel["tables"]:
            for name in ("utility_retained", "attack_success"):
                for row in table[name]["cells"]:
                    yield from row


def test_table_intervals_lie_in_the_unit_interval_and_hold_the_mean(board):
    _, document = board
    squares = [s for s in _squares(document) if s["mean"] is not None]
    assert squares and all(s["n_seeds"] >= 2 for s in squares if s["ci95"] is not None)
    for square in squares:
        low, high = square["ci95"]
        lowest, highest = square["range"]
        assert 0.0 <= lowest <= low <= high <= highest <= 1.0
        # The mean of equal values may differ from them in the last bit.
        assert low - 1e-12 <= square["mean"] <= high + 1e-12
        assert square["mean"] == pytest.approx(np.mean(list(square["per_seed"].values())))


def test_tables_have_a_square_per_defense_and_attack_with_its_status(board):
    _, document = board
    panel = document["panels"][0]
    (low, high) = panel["tables"]
    assert [low["malicious_fraction"], high["malicious_fraction"]] == [0.1, 0.2]
    utility = high["utility_retained"]
    assert high["defenses"] == panel["defenses"] and utility["attacks"] == panel["attacks"]
    assert len(utility["cells"]) == len(panel["defenses"])
    trimmed = panel["defenses"].index("trimmed_mean(beta=0.1)")
    promote = high["attack_success"]["attacks"].index("promote")
    assert high["attack_success"]["cells"][trimmed][promote]["status"] == "skipped"
    chain = panel["defenses"].index("norm_clip(max_norm=1.0) > krum")
    scramble = utility["attacks"].index("scramble")
    assert utility["cells"][chain][scramble]["status"] == "failed"  # seed 1
    assert utility["cells"][chain][scramble]["n_seeds"] == 2


def test_the_success_heatmap_has_no_all_na_row_and_separates_the_goals(board):
    _, document = board
    for panel in document["panels"]:
        for table in panel["tables"]:
            success = table["attack_success"]
            assert "none" not in success["attacks"]
            assert success["goals"] == ["targeted", "untargeted"]  # promote, then scramble
            for j, _ in enumerate(success["attacks"]):
                assert any(row[j]["mean"] is not None for row in success["cells"])


def test_rank_labels_and_p_values_are_in_markdown_and_html(smoke):
    out, document = smoke
    markdown = (out / "LEADERBOARD.md").read_text()
    html = (out / "index.html").read_text()
    labels = []
    for panel in document["panels"]:
        for entry in panel["ranking"]:
            labels.append(entry["rank"])
            p = comparison_text(entry)
            assert f"| {entry['rank']} | {entry['display']} |" in markdown
            assert f"| {p} | " in markdown
            assert f'<td class="rank">{entry["rank"]}</td>' in html and f"<td>{p}</td>" in html
    assert "1=" in labels and "3=" in labels
    first, _, third = document["panels"][0]["ranking"][:3]
    assert comparison_text(first) == "-"
    # dp_sgd takes a rank of its own: its Holm-adjusted p-value against krum is below 0.05
    assert third["rank"] == "3=" and third["compared_with_above"]["distinct"]
    assert comparison_text(third) == f"{third['compared_with_above']['p_holm']:.3g} (9 cells)"


def test_each_ranked_row_finds_its_cells_in_cells_csv(board):
    out, document = board
    rows = list(csv.DictReader((out / "cells.csv").open()))
    html = (out / "index.html").read_text()
    markdown = (out / "LEADERBOARD.md").read_text()
    for panel in document["panels"]:
        for entry in panel["ranking"]:
            wanted = entry["cells_filter"]
            assert set(wanted) == {"strategy", "defense"}
            found = [r["key"] for r in rows if all(r[k] == str(v) for k, v in wanted.items())]
            assert sorted(found) == entry["cell_keys"]
            assert f"strategy={panel['fixed']['strategy']}, defense={entry['defense']} |" in (
                markdown.replace("\\|", "|")
            )
            anchor = f'id="cells-{panel["slug"]}-{entry["position"]}"'
            assert anchor in html and all(key in html for key in entry["cell_keys"])


def test_a_plugin_is_shown_by_its_class_name(smoke):
    out, document = smoke
    panel = document["panels"][0]
    row = next(r for r in panel["ranking"] if r["defense"] == PLUGIN)
    assert row["display"] == "NormTrim" and panel["display_names"][PLUGIN] == "NormTrim"
    markdown = (out / "LEADERBOARD.md").read_text()
    assert "| NormTrim |" in markdown and f"| {PLUGIN} |" not in markdown
    assert f"NormTrim = `{PLUGIN}`" in markdown
    assert f'<td class="defense" title="{PLUGIN}">NormTrim</td>' in (out / "index.html").read_text()
    assert (
        display_name(f"norm_clip(max_norm=1.0) > {PLUGIN}(k=2)")
        == "norm_clip(max_norm=1.0) > NormTrim(k=2)"
    )
    assert display_name("pkg.rules:Median") == "Median" and display_name("krum") == "krum"


def test_a_defense_has_one_colour_in_every_panel_and_figure(smoke):
    out, document = smoke
    fedavg, fedprox = document["panels"]
    shared = set(fedavg["defenses"]) & set(fedprox["defenses"])
    assert len(shared) == 3
    for defense in shared:
        assert fedavg["colours"][defense] == fedprox["colours"][defense]
    assert len(set(fedavg["colours"].values())) == len(fedavg["defenses"])
    assert palette(["b", "a", "c"]) == palette(["c", "b", "a"])
    for panel in document["panels"]:
        pixels = imread(out / panel["figures"]["rank_groups"])[..., :3].reshape(-1, 3)
        for entry in panel["ranking"]:
            # each defense's marker is filled with its colour
            assert np.any(np.all(np.abs(pixels - to_rgb(entry["colour"])) < 1 / 255, axis=1))


def test_privacy_and_detection_are_on_the_board_per_defense(smoke):
    out, document = smoke
    ranking = {r["defense"]: r for r in document["panels"][0]["ranking"]}
    privacy = ranking[DP]["privacy"]
    assert privacy["epsilon_shopper"] == {"mean": pytest.approx(2.6), "n_cells": 9}
    assert privacy["epsilon_example"]["mean"] == pytest.approx(0.8)
    assert privacy["delta"]["mean"] == pytest.approx(0.01)
    assert ranking["krum"]["privacy"]["epsilon_shopper"] == {"mean": None, "n_cells": 0}
    detection = ranking["krum"]["detection"]
    assert detection["detection_auc"] == {"mean": pytest.approx(0.8), "n_cells": 6}
    assert ranking["fedavg"]["detection"]["detection_precision"]["mean"] is None
    markdown = (out / "LEADERBOARD.md").read_text()
    assert "| krum | n/a | n/a | n/a | 0.7 | 0.5 | 0.8 |" in markdown
    assert f"| {DP} | 2.6 | 0.8 | 0.01 | n/a | n/a | n/a |" in markdown
    rows = list(csv.DictReader((out / "cells.csv").open()))
    assert {"epsilon_shopper", "epsilon_example", "delta", "detection_auc"} <= set(rows[0])
    cells = [c for c in document["cells"] if c["defense"] == DP]
    assert cells and all(c["epsilon_shopper"] is not None for c in cells)


def test_the_privacy_utility_figure_is_written_when_a_dp_defense_ran(smoke, board):
    out, document = smoke
    (point,) = document["privacy_utility"]
    assert point["defense"] == DP and point["panel"] == "fedavg"
    assert point["epsilon_shopper"]["range"] == [pytest.approx(2.5), pytest.approx(2.7)]
    assert 0.0 <= point["utility_retained"]["mean"] <= 1.0
    name = document["figures"]["privacy_utility"]
    assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({name})" in (out / "LEADERBOARD.md").read_text()
    plain_out, plain = board
    assert plain["privacy_utility"] == [] and plain["figures"] == {}
    assert not (plain_out / name).exists()


def test_the_summary_puts_each_defense_s_ranks_side_by_side(smoke):
    out, document = smoke
    summary = document["summary"]
    assert [p["slug"] for p in summary["panels"]] == ["fedavg", "fedprox"]
    rows = {r["defense"]: r for r in summary["rows"]}
    assert set(rows[DP]["panels"]) == {"fedavg"}
    assert rows["fedavg"]["panels"]["fedprox"]["rank"] == "1="
    markdown = (out / "LEADERBOARD.md").read_text()
    assert f"| {DP} | 3= (0.412) | - |" in markdown


def test_curves_have_bands_and_targeted_attacks_an_er_curve(smoke):
    _, document = smoke
    panel = document["panels"][0]
    assert set(panel["er_curves"]["0.2"]) == {"promote"}
    er = panel["er_curves"]["0.2"]["promote"]["krum"]
    assert er["rounds"] == [2, 4] and er["mean"] == pytest.approx([0.2, 0.2])
    for curve in panel["curves"]["0.2"]["scramble"].values():
        assert np.all(np.array(curve["min"]) <= np.array(curve["mean"]) + 1e-12)
        assert np.all(np.array(curve["mean"]) <= np.array(curve["max"]) + 1e-12)
    assert panel["figures"]["er"] == "convergence-fedavg-er10.png"
    assert panel["figures"]["rank_groups"] == "cd-fedavg.png"


def test_the_markdown_opens_with_how_to_read_it(smoke):
    out, _ = smoke
    markdown = (out / "LEADERBOARD.md").read_text()
    reading = markdown.index("## Reading the board")
    assert reading < markdown.index("## Summary across panels") < markdown.index("## Method")
    guide = markdown[reading : markdown.index("## Summary across panels")]
    assert guide.count("\n- **") == 8 and "cd-*.png" in guide
