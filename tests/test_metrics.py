"""Known answers for the ranking and exposure metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedarena.metrics import exposure_metrics, ranking_metrics


def _row(rank: int, n_neg: int = 99) -> list[float]:
    """A score row whose positive has exactly ``rank`` negatives above it."""
    return [0.0] + [1.0] * rank + [-1.0] * (n_neg - rank)


def test_rank_zero_one_and_miss():
    scores = torch.tensor([_row(0), _row(1), _row(10)])
    m = ranking_metrics(scores, np.array([0, 1, 2]))
    assert m["hr@10"] == pytest.approx(2 / 3)
    assert m["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(3) + 0.0) / 3)
    assert m["auc"] == pytest.approx((1.0 + 98 / 99 + 89 / 99) / 3)


def test_ties_count_against_the_positive():
    constant = torch.zeros(1, 100)
    m = ranking_metrics(constant, np.array([0]))
    assert m["hr@10"] == 0.0
    assert m["auc"] == pytest.approx(0.5)


def test_each_shopper_weighs_the_same():
    scores = torch.tensor([_row(0), _row(20), _row(20)])
    m = ranking_metrics(scores, np.array([0, 1, 1]))
    assert m["hr@10"] == pytest.approx(0.5)


def test_nan_scores_are_misses():
    scores = torch.tensor([_row(0), [math.nan] * 100])
    m = ranking_metrics(scores, np.array([0, 1]))
    assert m["hr@10"] == pytest.approx(0.5)


def test_exposure_known_answer():
    scores = torch.arange(20.0).flip(0).expand(2, -1).clone()  # item i has rank i
    scores[1, 0:5] = -torch.inf  # shopper 1 bought the top five
    m = exposure_metrics(scores, torch.tensor([12]))
    assert m["target_rank"] == pytest.approx((12 + 7) / 2)
    assert m["er@10"] == pytest.approx(0.5)
    # Shopper 0 sees the target at rank 12, shopper 1 at 7: in neither top 5, one top 10,
    # both top 20.
    assert (m["er@5"], m["er@20"]) == (0.0, 1.0)


def test_exposure_counts_a_shopper_once_whichever_targets_it_sees():
    scores = torch.arange(30.0).flip(0)[None].clone()  # item i has rank i
    m = exposure_metrics(scores, torch.tensor([3, 8, 15]))
    assert (m["er@5"], m["er@10"], m["er@20"]) == (1.0, 1.0, 1.0)
    assert m["target_rank"] == pytest.approx((3 + 8 + 15) / 3)
    m = exposure_metrics(scores, torch.tensor([6, 25]))
    assert (m["er@5"], m["er@10"], m["er@20"]) == (0.0, 1.0, 1.0)
