"""Gathers and scatters over stacked per-client tables, shared by every recommender.

A stacked table has a leading client axis, (k, n, ...): k clients' copies of a per-item
parameter, or one table (k = 1) that holds every client's own rows one after the other.
Flat ``index_select`` / ``index_add_`` over the flattened table are faster than advanced
indexing and give the same rounding whatever the number of clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class RowTerms:
    """A gather's gradient before it is summed: ``values[j]`` belongs at row ``index[j]`` of
    the flattened (k * n, ...) table, and the gradient is their sum in that order
    (``scatter_rows``). A step that touches only these rows costs the batch, not the table."""

    index: Tensor
    values: Tensor

    def plus(self, index: Tensor, values: Tensor) -> RowTerms:
        """These terms followed by more: the sum adds them after these, as a second
        ``index_add_`` into the summed table would."""
        return RowTerms(torch.cat([self.index, index]), torch.cat([self.values, values]))


Gradient = Tensor | RowTerms  # a summed gradient, or a gathered table's terms
Scatter = Callable[[Tensor, Tensor, Tensor], Gradient]  # scatter_rows or row_terms


def gather_rows(table: Tensor, rows: Tensor) -> Tensor:
    """``table[c, rows[c, j]]`` for a (k, n, ...) table and (k', b) rows, shape (k', b, ...)
    (k = 1 broadcasts over the k' clients)."""
    k, n = table.shape[:2]
    flat = table.reshape(k * n, *table.shape[2:])
    offsets = (torch.arange(k) * n).unsqueeze(-1)
    picked = flat.index_select(0, (rows + offsets).reshape(-1))
    return picked.reshape(*rows.shape, *table.shape[2:])


def row_terms(table: Tensor, rows: Tensor, values: Tensor) -> RowTerms:
    """The gradient of ``gather_rows`` as ``RowTerms``: ``values[c, j]`` at row ``rows[c, j]``
    of client c."""
    k, n = table.shape[:2]
    offsets = (torch.arange(k) * n).unsqueeze(-1)
    return RowTerms((rows + offsets).reshape(-1), values.reshape(-1, *table.shape[2:]))


def scatter_rows(table: Tensor, rows: Tensor, values: Tensor) -> Tensor:
    """Zeros shaped as ``table`` with ``values[c, j]`` added at row ``rows[c, j]`` of client c:
    the gradient of ``gather_rows``."""
    terms = row_terms(table, rows, values)
    flat = table.new_zeros(table.shape[0] * table.shape[1], *table.shape[2:])
    flat.index_add_(0, terms.index, terms.values)
    return flat.reshape(table.shape)
