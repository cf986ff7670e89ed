"""Detection AUC: known answers, +inf, the undefined cases, and scikit-learn's roc_auc_score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from fedarena.engine.detection import mean_auc, score_auc

INF = float("inf")
TRUTH = np.array([False, False, False, True, True])


@pytest.mark.parametrize(
    "suspicion, expected",
    [
        ([0.0, 1.0, 2.0, 3.0, 4.0], 1.0),
        ([4.0, 3.0, 2.0, 1.0, 0.0], 0.0),
        ([1.0] * 5, 0.5),
        ([0.0, 1.0, 3.0, 2.0, 4.0], 5 / 6),  # one of six pairs reversed
    ],
)
def test_known_answers(suspicion, expected):
    assert score_auc(np.array(suspicion), TRUTH) == pytest.approx(expected)


def test_inf_is_the_most_suspicious_and_ties_with_inf():
    assert score_auc(np.array([0.0, 1.0, 1e300, INF, INF]), TRUTH) == 1.0
    assert score_auc(np.array([0.0, 1.0, INF, INF, INF]), TRUTH) == pytest.approx(5 / 6)
    assert score_auc(np.array([INF] * 5), TRUTH) == 0.5


def test_undefined_without_both_classes():
    assert score_auc(np.array([1.0, 2.0]), np.array([True, True])) is None
    assert score_auc(np.array([1.0, 2.0]), np.array([False, False])) is None
    assert score_auc(np.array([]), np.array([], dtype=bool)) is None


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same n"):
        score_auc(np.array([1.0, 2.0]), np.array([True]))
    with pytest.raises(ValueError, match="NaN"):
        score_auc(np.array([np.nan, 2.0]), np.array([True, False]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.5, INF]), st.booleans()),
        min_size=2,
        max_size=40,
    )
)
def test_matches_sklearn_with_ties(pairs):
    scores = np.array([score for score, _ in pairs])
    truth = np.array([bad for _, bad in pairs])
    ours = score_auc(scores, truth)
    if truth.all() or not truth.any():
        assert ours is None
        return
    # sklearn's ROC curve cannot take inf, but the AUC depends on the ranking only.
    finite = np.where(np.isinf(scores), 1e6, scores)
    assert ours == pytest.approx(roc_auc_score(truth, finite), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random(200) < 0.3
    scores = np.round(rng.normal(size=200) + truth, 1)  # rounding makes ties
    assert score_auc(scores, truth) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)


def test_mean_over_the_defined_rounds():
    assert mean_auc([1.0, None, 0.5]) == 0.75
    assert mean_auc([None, None]) is None
    assert mean_auc([]) is None
