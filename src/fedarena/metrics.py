"""Ranking metrics on held-out purchases: HR@10, NDCG@10 and AUC.

Each held-out purchase is ranked among ``k`` items its shopper never interacted with
(``k = 99`` by default, the convention of He et al. 2017 and the federated
recommender literature). With ``r`` the number of negatives that score at
least as high as the purchase (ties count against it, so a constant model
scores no better than chance):

- HR@10   = 1[r < 10]
- NDCG@10 = 1[r < 10] / log2(r + 2)
- AUC     = (#negatives scored strictly below + 0.5 #ties) / k

Each metric is averaged over a shopper's held-out purchases, then over shoppers,
so that every shopper weighs the same.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

METRIC_KEYS = ("ndcg@10", "hr@10", "auc")


def ranking_metrics(scores: Tensor, case_shopper: np.ndarray, k: int = 10) -> dict[str, float]:
    """Metrics of score rows whose column 0 is the held-out purchase, the rest negatives."""
    scores = scores.double()
    positive = scores[:, :1]
    negatives = scores[:, 1:]
    not_below = (negatives >= positive).sum(dim=1)
    below = (negatives < positive).sum(dim=1).double()
    ties = (negatives == positive).sum(dim=1).double()
    rank = not_below.double()
    hit = (rank < k).double()
    per_case = {
        "hr@10": hit,
        "ndcg@10": hit / torch.log2(rank + 2.0),
        "auc": (below + 0.5 * ties) / negatives.shape[1],
    }
    if not torch.isfinite(scores).all():
        # A NaN score ranks nowhere: treat its case as a miss rather than let NaN compare.
        bad = ~torch.isfinite(scores).all(dim=1)
        for value in per_case.values():
            value[bad] = 0.0
    _, shopper_index = np.unique(case_shopper, return_inverse=True)
    index = torch.from_numpy(shopper_index)
    n_shoppers = int(shopper_index.max()) + 1 if len(shopper_index) else 0
    counts = torch.bincount(index, minlength=n_shoppers).double()
    out = {}
    for key in METRIC_KEYS:
        per_shopper = torch.zeros(n_shoppers, dtype=torch.float64).index_add_(
            0, index, per_case[key]
        )
        out[key] = float((per_shopper / counts).mean()) if n_shoppers else math.nan
    return out


EXPOSURE_KS = (5, 10, 20)  # the cut-offs of the FedRec literature's ER@K (FedRecAttack)
EXPOSURE_KEYS = (*(f"er@{k}" for k in EXPOSURE_KS), "target_rank")


def exposure_metrics(scores: Tensor, targets: Tensor) -> dict[str, float]:
    """ER@5, ER@10, ER@20 and mean target rank of target items in full-catalog rankings.

    ``scores`` is (n_shoppers, n_items) with ``-inf`` on each shopper's own
    training items (they are never recommended back). ER@K is the share of
    shoppers whose top-K holds at least one target (for one target, the
    exposure ratio of FedRecAttack, Rong et al. ICDE 2022); ``target_rank`` the
    mean over shoppers and targets of the 0-based rank of the target (ties
    against the target).
    """
    target_scores = scores[:, targets]
    ranks = (scores[:, None, :] >= target_scores[:, :, None]).sum(dim=-1) - 1
    best = ranks.min(dim=1).values
    metrics = {
        f"er@{k}": float((best < k).double().mean()) if len(best) else math.nan for k in EXPOSURE_KS
    }
    metrics["target_rank"] = float(ranks.double().mean()) if len(best) else math.nan
    return metrics
