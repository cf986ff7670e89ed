"""Evaluation negatives: items a user never interacted with, drawn uniformly without replacement.

One draw serves the synthetic shop (``fedarena.data.shoppers``) and interaction logs
(``fedarena.data.protocol``): every item gets an independent uniform key, the row's
touched items an infinite one, and the ``k`` smallest keys win. Keys are drawn row after
row, in blocks of about ``BLOCK`` keys, so the result depends only on the generator's
state, not on the block size.
"""

from __future__ import annotations

import numpy as np

# Uniform keys drawn per block of rows (8 bytes each).
BLOCK = 1 << 22


def untouched_items(
    owners: np.ndarray,
    touched_ptr: np.ndarray,
    touched_items: np.ndarray,
    n_items: int,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """For each row ``i``, ``k`` distinct items that user ``owners[i]`` never touched, sorted.

    User ``u`` touched ``touched_items[touched_ptr[u]:touched_ptr[u + 1]]`` (at most
    ``n_items - k`` of them: the caller checks and says who). Returns an int64 array of
    shape ``(len(owners), k)``.

    >>> rows = untouched_items(np.array([0]), np.array([0, 2]), np.array([0, 1]), 4, 2,
    ...                        np.random.default_rng(0))
    >>> rows.tolist()
    [[2, 3]]
    """
    out = np.empty((len(owners), k), dtype=np.int64)
    if k == 0:
        return out
    n_touched = np.diff(touched_ptr)
    step = max(1, BLOCK // n_items)
    for start in range(0, len(owners), step):
        users = owners[start : start + step]
        keys = rng.random((len(users), n_items))
        counts = n_touched[users]
        row = np.repeat(np.arange(len(users)), counts)
        first = np.repeat(touched_ptr[users] - np.cumsum(counts) + counts, counts)
        keys[row, touched_items[first + np.arange(len(row))]] = np.inf
        chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]
        out[start : start + len(users)] = np.sort(chosen, axis=1)
    return out
