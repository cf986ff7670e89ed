"""Gathers and scatters over stacked per-client tables, shared by every recommender.

A stacked table has a leading client axis, (k, n, ...): k clients' copies of a per-item
parameter, or one table (k = 1) that holds every client's own rows one after the other.
Flat ``index_select`` / ``index_add_`` over the flattened table are faster than advanced
indexing and give the same rounding whatever the number of clients.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gather_rows(table: Tensor, rows: Tensor) -> Tensor:
    """``table[c, rows[c, j]]`` for a (k, n, ...) table and (k', b) rows, shape (k', b, ...)
    (k = 1 broadcasts over the k' clients)."""
    k, n = table.shape[:2]
    flat = table.reshape(k * n, *table.shape[2:])
    offsets = (torch.arange(k) * n).unsqueeze(-1)
    picked = flat.index_select(0, (rows + offsets).reshape(-1))
    return picked.reshape(*rows.shape, *table.shape[2:])


def scatter_rows(table: Tensor, rows: Tensor, values: Tensor) -> Tensor:
    """Zeros shaped as ``table`` with ``values[c, j]`` added at row ``rows[c, j]`` of client c:
    the gradient of ``gather_rows``."""
    k, n = table.shape[:2]
    offsets = (torch.arange(k) * n).unsqueeze(-1)
    flat = table.new_zeros(k * n, *table.shape[2:])
    flat.index_add_(0, (rows + offsets).reshape(-1), values.reshape(-1, *table.shape[2:]))
    return flat.reshape(table.shape)
