"""Scores by hand: utility retained, attack success, worst cases, confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedarena.leaderboard.panels import build_panels
from fedarena.leaderboard.scoring import Estimate, latest, score_cells

T_975_2 = 4.3027  # Student's t, 97.5 % quantile, 2 degrees of freedom (printed tables)


@pytest.fixture()
def seed0(record):
    """Reference NDCG 0.2; defense D costs 5 % clean and holds better than fedavg."""
    return [
        record("none", "fedavg", ndcg=0.2),
        record("promote", "fedavg", ndcg=0.2, er=0.6),
        record("scramble", "fedavg", ndcg=0.05),
        record("none", "D", ndcg=0.19),
        record("promote", "D", ndcg=0.18, er=0.3),
        record("scramble", "D", ndcg=0.095),
    ]


def _by_cell(scores):
    return {(s.spec["attack"], s.spec["defense"]): s for s in scores}


def test_utility_retained_and_attack_success_by_hand(seed0):
    scores = _by_cell(score_cells(seed0))
    assert scores["none", "D"].retained == pytest.approx(0.95)
    assert scores["none", "D"].success is None  # no attack, nothing to succeed at
    assert scores["promote", "D"].retained == pytest.approx(0.9)
    assert scores["promote", "D"].success == pytest.approx(0.3)  # targeted: ER@10
    assert scores["scramble", "D"].retained == pytest.approx(0.475)
    # untargeted: (clean - attacked) / clean with clean = (none, D) = 0.19
    assert scores["scramble", "D"].success == pytest.approx(0.5)
    assert scores["scramble", "fedavg"].success == pytest.approx(0.75)


def test_worst_case_over_attacks_ranks_the_defenses(seed0):
    panel = build_panels(score_cells(seed0))[0]
    first, second = panel.ranking()
    assert (first.defense, second.defense) == ("D", "fedavg")
    assert first.worst_utility.mean == pytest.approx(0.475)
    assert first.worst_safety.mean == pytest.approx(0.5)
    assert first.robust.mean == pytest.approx(0.475)
    assert second.robust.mean == pytest.approx(0.25)
    assert first.counts == {"done": 3, "failed": 0, "skipped": 0, "expected": 3}


def test_mean_and_95_percent_interval_over_seeds():
    estimate = Estimate.of({0: 0.4, 1: 0.5, 2: 0.6})
    half = T_975_2 * 0.1 / math.sqrt(3)
    assert estimate.mean == pytest.approx(0.5)
    assert estimate.low == pytest.approx(0.5 - half, abs=1e-4)
    assert estimate.high == pytest.approx(0.5 + half, abs=1e-4)
    single = Estimate.of({3: 0.7})
    assert (single.mean, single.low, single.high, single.n) == (0.7, None, None, 1)
    assert Estimate.of({}).mean is None


def test_seeds_are_ranked_by_their_own_worst_case(record):
    records = []
    for seed, attacked in enumerate([0.1, 0.15, 0.2]):
        records += [
            record("none", "fedavg", seed, 0.2),
            record("scramble", "fedavg", seed, attacked),
        ]
    (entry,) = build_panels(score_cells(records))[0].ranking()
    retained = np.array([0.1, 0.15, 0.2]) / 0.2
    assert entry.worst_utility.per_seed == pytest.approx(dict(enumerate(retained)))
    assert entry.robust.mean == pytest.approx(retained.mean())
    assert entry.robust.high - entry.robust.mean == pytest.approx(
        T_975_2 * retained.std(ddof=1) / math.sqrt(3), abs=1e-3
    )


def test_a_failed_cell_is_the_worst_case_and_a_skipped_one_is_left_out(seed0, record):
    records = [
        *seed0,
        record("none", "Crashy", ndcg=0.2),
        record("scramble", "Crashy", status="failed"),
        record("none", "Picky", ndcg=0.2),
        record("promote", "Picky", status="skipped"),
        record("scramble", "Picky", ndcg=0.15),
    ]
    ranking = {r.defense: r for r in build_panels(score_cells(records))[0].ranking()}
    assert ranking["Crashy"].robust.mean == 0.0
    assert ranking["Crashy"].counts["failed"] == 1
    # Picky: retained min(1, 0.75) = 0.75; safety 1 - (0.2 - 0.15) / 0.2 = 0.75
    assert ranking["Picky"].robust.mean == pytest.approx(0.75)
    assert ranking["Picky"].counts == {"done": 2, "failed": 0, "skipped": 1, "expected": 3}


def test_no_reference_means_no_utility_retained(record):
    scores = score_cells([record("promote", "D", ndcg=0.2, er=0.1)])
    assert scores[0].retained is None and scores[0].success == pytest.approx(0.1)
    (entry,) = build_panels(scores)[0].ranking()
    assert entry.worst_utility.mean is None and entry.robust.mean == pytest.approx(0.9)


def test_latest_record_of_a_cell_wins_across_versions(record):
    old = record("none", "fedavg", ndcg=0.1, version="0.0.9", finished_at="2026-01-01T00:00:00")
    new = record("none", "fedavg", ndcg=0.3, version="0.1.0", finished_at="2026-02-01T00:00:00")
    assert latest([new, old]) == [new]
    assert latest([old, new]) == [new]


def test_panels_split_by_strategy_with_heatmaps_and_curves(seed0, record):
    records = [
        *seed0,
        record("none", "fedavg", strategy="fedprox"),
        record("promote", "D", status="skipped", strategy="fedprox"),
    ]
    panels = build_panels(score_cells(records))
    assert [p.label for p in panels] == ["fedavg", "fedprox"]
    fedavg, fedprox = panels
    assert fedavg.attacks == ["none", "promote", "scramble"] and fedavg.defenses == ["fedavg", "D"]
    utility = fedavg.heatmap(0.2, "retained")
    assert utility[:, 1] == pytest.approx([0.95, 0.9, 0.475])
    success = fedavg.heatmap(0.2, "success")
    assert np.isnan(success[0]).all() and success[2] == pytest.approx([0.75, 0.5])
    assert fedprox.statuses(0.2) == [["done", "missing"], ["missing", "skipped"]]
    assert fedavg.curve(0.2, "none", "D") == ([2, 4], pytest.approx([0.095, 0.19]))
    assert fedavg.baselines(0.2) == {"local": 0.1, "popularity": 0.15}
