"""How well a defense's suspicion scores tell malicious clients from benign ones: the ROC AUC.

Precision and recall of a defense's flags (``Aggregate.accepted``) say little
when the flags are fixed by construction: Krum flags all but the one client it
picks, so its precision is the malicious share whatever it sees. A rule that
scores clients (``Aggregate.suspicion``, higher = more suspicious) can be
judged by the whole ranking instead: the AUC is the probability that a random
malicious client is scored above a random benign one (Mann-Whitney U / (n_m
n_b), a tie counting one half): 1 for a perfect ranking, 0.5 for one no better
than chance, 0 for a reversed one. Scores of different rounds are on different
scales (Krum's are squared distances), so the AUC is computed per round and
the rounds' AUCs are averaged.
"""

from __future__ import annotations

import numpy as np


def score_auc(suspicion: np.ndarray, malicious: np.ndarray) -> float | None:
    """P(s_m > s_b) + P(s_m = s_b) / 2 over malicious m and benign b; None unless both are present.

    ``suspicion``: one score per client (+inf allowed: a row rejected as
    non-finite; two +inf tie); ``malicious``: the matching truth mask.

    >>> score_auc(np.array([0.1, 0.2, 5.0, np.inf]), np.array([False, False, True, True]))
    1.0
    >>> score_auc(np.array([1.0, 1.0, 1.0]), np.array([True, False, False]))
    0.5
    >>> score_auc(np.array([1.0, 2.0]), np.array([False, False])) is None
    True
    """
    scores = np.asarray(suspicion, dtype=np.float64)
    truth = np.asarray(malicious, dtype=bool)
    if scores.ndim != 1 or scores.shape != truth.shape:
        raise ValueError(
            f"suspicion and malicious must be (n,) arrays of the same n, got shapes "
            f"{scores.shape} and {truth.shape}"
        )
    if np.isnan(scores).any():
        raise ValueError("suspicion must not hold NaN; give +inf to a certainly rejected client")
    bad, good = scores[truth], np.sort(scores[~truth])
    if len(bad) == 0 or len(good) == 0:
        return None
    below = np.searchsorted(good, bad, side="left")
    tied = np.searchsorted(good, bad, side="right") - below
    return float((below.sum() + tied.sum() / 2) / (len(bad) * len(good)))


def mean_auc(values: list[float | None]) -> float | None:
    """The mean of the per-round AUCs over the rounds where one is defined; None if none is.

    >>> mean_auc([1.0, None, 0.5])
    0.75
    >>> mean_auc([None, None]) is None
    True
    """
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None
