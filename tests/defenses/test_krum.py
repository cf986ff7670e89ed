"""Krum and Multi-Krum: hand-computed scores, the n > 2f + 2 contract, Flower and byzfl."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from defense_helpers import context, flower_results, max_abs_diff, random_updates
from flwr.server.strategy.aggregate import aggregate_krum

from fedarena.defenses.geometry import pairwise_sq_distances
from fedarena.defenses.krum import Krum, MultiKrum, krum_scores
from fedarena.engine.detection import score_auc

POINTS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [50.0, -50.0]])


def test_scores_by_hand():
    # f = 1, n = 5: each point's 2 nearest others. Squared distances from (0,0): 1, 4, 18;
    # from (1,0): 1, 5, 13; from (0,2): 4, 5, 10; from (3,3): 10, 13, 18.
    scores = krum_scores(pairwise_sq_distances(POINTS), neighbours=2)
    assert scores[:4].tolist() == [5.0, 6.0, 9.0, 23.0]
    assert scores[4] > 4000


def test_krum_returns_the_least_score_update_and_accepts_only_it():
    out = Krum(f=1).aggregate(POINTS, torch.ones(5), context(POINTS))
    assert out.update.tolist() == [0.0, 0.0]
    assert out.accepted.tolist() == [True, False, False, False, False]


def test_multi_krum_averages_the_m_best_with_their_weights():
    weights = torch.tensor([1.0, 3.0, 1.0, 1.0, 1.0])
    out = MultiKrum(f=1, m=2).aggregate(POINTS, weights, context(POINTS))
    assert out.update.tolist() == [0.75, 0.0]
    default = MultiKrum(f=1).aggregate(POINTS, torch.ones(5), context(POINTS))
    assert default.accepted.tolist() == [True, True, True, True, False]


def test_f_comes_from_the_context_unless_given():
    x = random_updates(9, 6, seed=0)
    assert torch.equal(
        Krum().aggregate(x, torch.ones(9), context(x, f=3)).update,
        Krum(f=3).aggregate(x, torch.ones(9), context(x, f=0)).update,
    )


@pytest.mark.parametrize("rule", [Krum, MultiKrum])
def test_needs_more_than_2f_plus_2_clients(rule):
    x = random_updates(6, 3, seed=0)
    with pytest.raises(ValueError, match=r"needs n > 2f \+ 2, got n=6, f=2"):
        rule().aggregate(x, torch.ones(6), context(x, f=2))


@pytest.mark.parametrize("n, f, seed", [(10, 2, 0), (25, 5, 1), (40, 12, 2)])
def test_krum_matches_flower(n, f, seed):
    x = random_updates(n, 30, seed)
    w = torch.randint(1, 50, (n,), generator=torch.Generator().manual_seed(seed)).float()
    ours = Krum(f=f).aggregate(x, w, context(x)).update
    assert max_abs_diff(ours, aggregate_krum(flower_results(x, w), f, 0)[0]) <= 1e-5


@pytest.mark.parametrize("n, f, m, seed", [(10, 2, 5, 0), (25, 5, 12, 1), (40, 12, 20, 2)])
def test_multi_krum_matches_flower_weighted(n, f, m, seed):
    x = random_updates(n, 30, seed)
    w = torch.randint(1, 50, (n,), generator=torch.Generator().manual_seed(seed)).float()
    ours = MultiKrum(f=f, m=m).aggregate(x, w, context(x)).update
    assert max_abs_diff(ours, aggregate_krum(flower_results(x, w), f, m)[0]) <= 1e-5


@pytest.mark.parametrize("n, f, seed", [(10, 2, 0), (25, 5, 1), (40, 12, 2)])
def test_krum_and_multi_krum_match_byzfl(byzfl, n, f, seed):
    # byzfl scores over the n - f - 1 nearest others (the paper: n - f - 2), so its
    # f + 1 is our f; its Multi-Krum keeps n - f of its f, unweighted.
    x = random_updates(n, 30, seed)
    ones = torch.ones(n)
    assert max_abs_diff(Krum(f=f).aggregate(x, ones, context(x)).update, byzfl.Krum(f + 1)(x)) == 0
    ours = MultiKrum(f=f, m=n - f - 1).aggregate(x, ones, context(x)).update
    assert max_abs_diff(ours, byzfl.MultiKrum(f + 1)(x)) <= 1e-5


def test_equal_scores_are_ranked_the_same_in_any_order():
    # Two mirror pairs: every point scores the same with one neighbour.
    x = torch.tensor([[0.0], [1.0], [10.0], [11.0], [30.0]])
    picks = set()
    for seed in range(5):
        perm = torch.randperm(5, generator=torch.Generator().manual_seed(seed))
        picks.add(float(Krum(f=0).aggregate(x[perm], torch.ones(5), context(x)).update))
    assert len(picks) == 1
    assert np.isclose(picks.pop(), 10.0)


def _outlier_round(seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """8 benign updates near 0 and 2 far away, in shuffled order."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.randn(10, 6, generator=g)
    malicious = np.zeros(10, dtype=bool)
    malicious[[2, 7]] = True
    x[torch.from_numpy(malicious)] += 5.0
    return x, malicious


@pytest.mark.parametrize("rule", [Krum, MultiKrum])
def test_suspicion_is_the_krum_score_of_each_row(rule):
    out = rule(f=1).aggregate(POINTS, torch.ones(5), context(POINTS))
    assert out.suspicion.shape == (5,)
    assert out.suspicion[:4].tolist() == [5.0, 6.0, 9.0, 23.0]


@pytest.mark.parametrize("rule", [Krum, MultiKrum])
def test_far_updates_are_the_most_suspicious(rule):
    x, malicious = _outlier_round()
    out = rule(f=2).aggregate(x, torch.ones(10), context(x))
    assert score_auc(out.suspicion.numpy(), malicious) == 1.0


@pytest.mark.parametrize("rule", [Krum, MultiKrum])
def test_a_nan_row_gets_infinite_suspicion_and_the_rest_are_scored_without_it(rule):
    x, _ = _outlier_round()
    x[4, 0] = float("nan")
    out = rule().aggregate(x, torch.ones(10), context(x, f=3))
    finite = torch.arange(10) != 4
    # The NaN row counts against f: the others are scored with f = 2 among 9.
    expected = krum_scores(pairwise_sq_distances(x[finite]), neighbours=9 - 2 - 2)
    assert out.suspicion[4] == float("inf")
    torch.testing.assert_close(out.suspicion[finite], expected)
