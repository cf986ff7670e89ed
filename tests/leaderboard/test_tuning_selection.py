"""Tuned defenses: the setting is chosen on the tuning seeds alone and reported on the others."""

from __future__ import annotations

import hashlib

import pytest

from fedarena.leaderboard.build import build_leaderboard, session_tuning
from fedarena.leaderboard.document import leaderboard_document
from fedarena.leaderboard.markdown import render_markdown
from fedarena.leaderboard.panels import build_panels
from fedarena.leaderboard.scoring import score_cells
from fedarena.matrix.file import Tuning, Variant
from fedarena.matrix.store import ResultStore

A, B = "norm_clip(max_norm=1.0)", "norm_clip(max_norm=2.0)"
TUNING = Tuning(
    frozenset({10, 11}),
    {A: Variant("norm_clip", (("max_norm", 1.0),)), B: Variant("norm_clip", (("max_norm", 2.0),))},
)
# NDCG@10 without attack and under the untargeted attack; the reference (fedavg) has 0.2 and
# popularity 0.15, so utility retained is (NDCG - 0.15) / 0.05.
# Tuning seeds: A retains 0.9 and 0.6 (worst 0.6), B 1.0 and 0.55 (worst 0.55, better mean).
# Reported seeds: A's worst case is 0.3, B's 0.8, so a selection that peeked would pick B.
NDCG = {
    "tuning": {A: (0.195, 0.18), B: (0.2, 0.1775)},
    "reported": {A: (0.195, 0.165), B: (0.2, 0.19)},
}


@pytest.fixture()
def records(record):
    found = []
    for seed in (0, 1, 10, 11):
        found += [record("none", "fedavg", seed, 0.2), record("scramble", "fedavg", seed, 0.05)]
        for defense, (clean, attacked) in NDCG["tuning" if seed >= 10 else "reported"].items():
            found += [
                record("none", defense, seed, clean),
                record("scramble", defense, seed, attacked),
            ]
    return found


def test_the_best_worst_case_on_the_tuning_seeds_is_chosen_without_looking_at_the_others(
    records,
):
    (panel,) = build_panels(score_cells(records), TUNING)
    (choice,) = panel.selection.choices.values()
    assert choice.chosen == A and choice.seeds == (10, 11)
    assert choice.scores == {A: pytest.approx(0.6), B: pytest.approx(0.55)}
    assert panel.defenses == ["fedavg", A] and panel.seeds == [0, 1]
    ranking = {r.defense: r for r in panel.ranking()}
    assert set(ranking) == {"fedavg", "norm_clip (max_norm=1.0)"}
    chosen = ranking["norm_clip (max_norm=1.0)"]
    # reported seeds only: retained 0.3, safety 1 - (0.195 - 0.165) / (0.195 - 0.15) = 1/3
    assert chosen.robust.per_seed == {0: pytest.approx(0.3), 1: pytest.approx(0.3)}
    assert chosen.counts == {"done": 4, "failed": 0, "skipped": 0, "expected": 4}
    assert set(ranking["fedavg"].robust.per_seed) == {0, 1}


def test_a_tie_goes_to_the_setting_listed_first(record):
    records = []
    for seed in (0, 10):
        records.append(record("none", "fedavg", seed, 0.2))
        records += [record("none", d, seed, 0.2) for d in (B, A)]
    (panel,) = build_panels(score_cells(records), TUNING)
    assert list(panel.selection.choices) == [A]  # TUNING lists A first


def test_without_tuning_every_setting_is_its_own_row_on_every_seed(records):
    (panel,) = build_panels(score_cells(records))
    assert panel.selection is None
    ranking = {r.defense: r for r in panel.ranking()}
    assert set(ranking) == {"fedavg", A, B}
    assert set(ranking[A].robust.per_seed) == {0, 1, 10, 11}


def test_the_document_names_the_setting_and_states_the_protocol(records):
    panels = build_panels(score_cells(records), TUNING)
    document = leaderboard_document(panels, [], ["results"])
    assert "ByzFL" in document["method"] and "tuning seeds" in document["method"]
    (panel,) = document["panels"]
    assert panel["tuning_seeds"] == [10, 11]
    row = next(r for r in panel["ranking"] if r["defense"] == "norm_clip (max_norm=1.0)")
    assert row["tuning"]["chosen"] == A and row["tuning"]["setting"] == {"max_norm": 1.0}
    assert {c["seed"] for c in document["cells"]} == {0, 1, 10, 11}  # every cell listed
    markdown = render_markdown(document)
    assert "| norm_clip (max_norm=1.0) |" in markdown
    assert "chosen on seeds 10, 11 (not reported)" in markdown
    untuned = leaderboard_document(build_panels(score_cells(records)), [], ["results"])
    assert "ByzFL" not in untuned["method"] and "tuning_seeds" not in untuned["panels"][0]


def _store(folder, records, matrix, sha256):
    folder.mkdir()
    with ResultStore.in_folder(folder) as store:
        session = store.start_session(
            matrix=str(matrix),
            matrix_sha256=sha256,
            grids=["tuned"],
            version="0.1.0",
            workers=1,
            cores=1,
            machine="x86_64",
            time_limit_s=60.0,
            memory_limit_mb=2048,
            cells=len(records),
            resumed=0,
        )
        for r in records:
            store.put(r)
        store.finish_session(session, 1.0, {"done": len(records), "failed": 0, "skipped": 0})
        return store.sessions()


def test_the_leaderboard_reads_the_tuning_of_the_file_its_sessions_ran(records, tmp_path):
    matrix = tmp_path / "tuned.toml"
    matrix.write_text(
        'seed = [0, 1]\ndefense = "norm_clip"\ntune = true\ntuning_seeds = [10, 11]\n'
        "[tuning_grid]\nnorm_clip = { max_norm = [1.0, 2.0] }\n"
    )
    sha256 = hashlib.sha256(matrix.read_bytes()).hexdigest()
    sessions = _store(tmp_path / "results", records, matrix, sha256)
    assert session_tuning(sessions) == TUNING
    document = build_leaderboard([tmp_path / "results"], tmp_path / "board")
    names = [r["defense"] for r in document["panels"][0]["ranking"]]
    assert names == ["norm_clip (max_norm=1.0)", "fedavg"]  # robust 0.3 against 0.25
    assert "| norm_clip (max_norm=1.0) |" in (tmp_path / "board" / "LEADERBOARD.md").read_text()
    matrix.write_text(matrix.read_text() + "# edited since it ran\n")
    assert session_tuning(sessions) == Tuning()
