"""Scores by hand: utility retained above popularity, attack success, worst cases, last-K
means, bootstrap intervals and rank groups."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedarena.leaderboard.panels import build_panels
from fedarena.leaderboard.scoring import (
    LAST_K,
    Estimate,
    last_k_mean,
    latest,
    panel_fields,
    score_cells,
)
from fedarena.leaderboard.statistics import RESAMPLES, bootstrap_interval, holm
from fedarena.scenario.spec import Scenario

# Every synthetic cell has popularity NDCG@10 P = 0.15 (tests/leaderboard/conftest.py).


@pytest.fixture()
def seed0(record):
    """Reference NDCG 0.2 (0.05 above popularity); defense D costs 20 % of that clean and
    holds better than fedavg."""
    return [
        record("none", "fedavg", ndcg=0.2),
        record("promote", "fedavg", ndcg=0.2, er=0.6),
        record("scramble", "fedavg", ndcg=0.16),
        record("none", "D", ndcg=0.19),
        record("promote", "D", ndcg=0.18, er=0.3),
        record("scramble", "D", ndcg=0.17),
    ]


def _by_cell(scores):
    return {(s.spec["attack"], s.spec["defense"]): s for s in scores}


def test_utility_retained_and_attack_success_by_hand(seed0):
    scores = _by_cell(score_cells(seed0))
    assert scores["none", "D"].retained == pytest.approx(0.8)  # (0.19 - 0.15) / (0.2 - 0.15)
    assert scores["none", "D"].success is None  # no attack, nothing to succeed at
    assert scores["promote", "D"].retained == pytest.approx(0.6)
    assert scores["promote", "D"].success == pytest.approx(0.3)  # targeted: ER@10
    assert scores["scramble", "D"].retained == pytest.approx(0.4)
    # untargeted: the share above popularity destroyed, against its own clean cell 0.19
    assert scores["scramble", "D"].success == pytest.approx(0.5)
    assert scores["scramble", "fedavg"].success == pytest.approx(0.8)
    assert scores["promote", "D"].score == pytest.approx(0.6)  # min(U, 1 - S)


def test_a_defense_at_the_popularity_floor_retains_nothing(record):
    scores = _by_cell(
        score_cells([record("none", "fedavg", ndcg=0.2), record("none", "Flat", ndcg=0.15)])
    )
    assert scores["none", "Flat"].retained == 0.0
    below = score_cells([record("none", "fedavg", ndcg=0.2), record("none", "Bad", ndcg=0.1)])
    assert _by_cell(below)["none", "Bad"].retained == 0.0


def test_worst_case_over_attacks_ranks_the_defenses(seed0):
    panel = build_panels(score_cells(seed0))[0]
    first, second = panel.ranking()
    assert (first.defense, second.defense) == ("D", "fedavg")
    assert first.worst_utility.mean == pytest.approx(0.4)
    assert first.worst_safety.mean == pytest.approx(0.5)
    assert first.robust.mean == pytest.approx(0.4)
    assert second.robust.mean == pytest.approx(0.2)
    assert first.counts == {"done": 3, "failed": 0, "skipped": 0, "expected": 3}
    assert len(first.keys) == 3


def test_metrics_are_means_over_the_last_k_evaluated_rounds():
    rounds = [{"round": t, **({"ndcg@10": t / 10} if t % 2 else {})} for t in range(20)]
    result = {"rounds": rounds, "final": {"ndcg@10": 1.9}}
    evaluated = [t / 10 for t in range(20) if t % 2]
    assert last_k_mean(result, "ndcg@10") == pytest.approx(np.mean(evaluated[-LAST_K:]))
    assert last_k_mean({"rounds": [], "final": {"ndcg@10": 0.3}}, "ndcg@10") == 0.3


def test_the_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    values = [0.4, 0.5, 0.9]
    # Every one of the 3^3 resamples is equally likely: the exact bootstrap law of the mean.
    means = sorted(np.mean(r) for r in itertools.product(values, repeat=3))
    estimate = Estimate.of(dict(enumerate(values)))
    assert estimate.mean == pytest.approx(0.6)
    exact_low, exact_high = np.quantile(means, [0.025, 0.975], method="inverted_cdf")
    tolerance = 3 / np.sqrt(RESAMPLES)  # Monte Carlo error of a quantile, generously
    assert estimate.low == pytest.approx(exact_low, abs=tolerance + 0.02)
    assert estimate.high == pytest.approx(exact_high, abs=tolerance + 0.02)
    single = Estimate.of({3: 0.7})
    assert (single.mean, single.low, single.high, single.n) == (0.7, None, None, 1)
    assert Estimate.of({}).mean is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=12))
def test_an_interval_of_values_in_0_1_never_leaves_0_1(values):
    interval = bootstrap_interval(values)
    assert 0.0 <= interval.low <= interval.high <= 1.0
    assert min(values) <= interval.low and interval.high <= max(values)


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def _grid(record, defense, ndcg_by_seed, attacks=("none", "scramble"), seeds=range(5)):
    """One defense's cells over seeds and fractions with utility ``ndcg_by_seed(seed, cell)``."""
    return [
        record(attack, defense, seed, ndcg_by_seed(seed, i), fraction=fraction)
        for seed in seeds
        for i, (attack, fraction) in enumerate(itertools.product(attacks, (0.1, 0.2)))
    ]


def test_identical_defenses_share_a_rank(record):
    def utility(seed, cell):
        return 0.16 + 0.01 * ((seed * 7 + cell * 3) % 4)

    records = _grid(record, "fedavg", lambda s, c: 0.2)
    records += _grid(record, "A", utility) + _grid(record, "B", utility)
    ranking = build_panels(score_cells(records))[0].ranking()
    labels = {r.defense: r.label for r in ranking}
    assert labels["A"] == labels["B"]
    tied = next(
        r for r in ranking if r.above is not None and {r.defense, r.above.above} == {"A", "B"}
    )
    assert tied.above.p_value == 1.0 and not tied.above.distinct


def test_a_defense_better_in_every_cell_by_a_wide_margin_ranks_alone(record):
    records = _grid(record, "fedavg", lambda s, c: 0.2)
    records += _grid(record, "Strong", lambda s, c: 0.195 - 0.001 * c)
    records += _grid(record, "Weak", lambda s, c: 0.16 + 0.001 * s)
    ranking = build_panels(score_cells(records))[0].ranking()
    by_name = {r.defense: r for r in ranking}
    assert by_name["Strong"].label != by_name["Weak"].label
    assert not by_name["Weak"].label.endswith("=")
    assert by_name["Weak"].above.p_holm < 0.05 and by_name["Weak"].above.n_cells == 20


def test_seeds_are_ranked_by_their_own_worst_case(record):
    records = []
    for seed, attacked in enumerate([0.16, 0.17, 0.18]):
        records += [
            record("none", "fedavg", seed, 0.2),
            record("scramble", "fedavg", seed, attacked),
        ]
    (entry,) = build_panels(score_cells(records))[0].ranking()
    retained = [0.2, 0.4, 0.6]
    assert entry.worst_utility.per_seed == pytest.approx(dict(enumerate(retained)))
    assert entry.robust.mean == pytest.approx(0.4)
    assert 0.2 <= entry.robust.low <= 0.4 <= entry.robust.high <= 0.6


def test_a_failed_cell_is_the_worst_case_and_a_skipped_one_is_left_out(seed0, record):
    records = [
        *seed0,
        record("none", "Crashy", ndcg=0.2),
        record("scramble", "Crashy", status="failed"),
        record("none", "Picky", ndcg=0.2),
        record("promote", "Picky", status="skipped"),
        record("scramble", "Picky", ndcg=0.175),
    ]
    ranking = {r.defense: r for r in build_panels(score_cells(records))[0].ranking()}
    assert ranking["Crashy"].robust.mean == 0.0
    assert ranking["Crashy"].counts["failed"] == 1
    # Picky: retained min(1, 0.5) = 0.5; safety 1 - (0.2 - 0.175) / (0.2 - 0.15) = 0.5
    assert ranking["Picky"].robust.mean == pytest.approx(0.5)
    assert ranking["Picky"].counts == {"done": 2, "failed": 0, "skipped": 1, "expected": 3}


def test_no_reference_means_no_utility_retained_and_no_score(record):
    scores = score_cells([record("promote", "D", ndcg=0.2, er=0.1)])
    assert scores[0].retained is None and scores[0].success == pytest.approx(0.1)
    (entry,) = build_panels(scores)[0].ranking()
    assert entry.worst_utility.mean is None and entry.robust.mean is None
    assert entry.worst_safety.mean == pytest.approx(0.9)


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
    assert utility[:, 1] == pytest.approx([0.8, 0.6, 0.4])
    success = fedavg.heatmap(0.2, "success")
    assert np.isnan(success[0]).all() and success[2] == pytest.approx([0.8, 0.5])
    assert fedprox.statuses(0.2) == [["done", "missing"], ["missing", "skipped"]]
    assert fedavg.curve(0.2, "none", "D") == ([2, 4], pytest.approx([0.19, 0.19]))
    assert fedavg.baselines(0.2) == {"local": 0.1, "popularity": 0.15}


def test_an_attacked_cell_without_a_defined_success_is_left_out_of_the_safety(record):
    # A targeted cell whose ER@10 is undefined (no eligible shopper) must not crash the ranking.
    records = [record("none", "fedavg", ndcg=0.2), record("promote", "fedavg", ndcg=0.2)]
    (entry,) = build_panels(score_cells(records))[0].ranking()
    assert entry.worst_safety.mean is None and entry.robust.mean == pytest.approx(1.0)


def test_a_logged_population_panel_does_not_list_the_shops_simulation_options():
    shop = panel_fields(Scenario(items=500).to_dict())
    logged = panel_fields(Scenario(population="movielens", model="mf").to_dict())
    assert {"catalog", "items", "alpha"} <= set(shop) and shop["items"] == 500
    assert not {"catalog", "items", "alpha"} & set(logged)
    assert logged["population"] == "movielens" and logged["model"] == "mf"


def test_a_shop_board_beside_a_movielens_board_labels_its_panels_by_population(record):
    logged = {"population": "movielens", "model": "mf"}
    records = [
        record("none", "fedavg"),
        record("none", "fedavg", strategy="fedprox"),
        record("none", "fedavg", **logged),
        record("promote", "fedavg", er=0.3, **logged),
    ]
    panels = build_panels(score_cells(records))
    assert [p.label for p in panels] == [
        "population=shop, model=tower, strategy=fedavg",
        "population=shop, model=tower, strategy=fedprox",
        "population=movielens, model=mf, strategy=fedavg",
    ]
    assert panels[2].attacks == ["none", "promote"] and "items" not in panels[2].fixed
