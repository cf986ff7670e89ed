"""Rules computed per coordinate from the sorted columns of a round's updates.

NumPy's vectorised sort along the client axis is several times faster here
than ``torch.sort`` or any partial selection, so these rules sort once and
read what they need from the sorted columns. Sorting also puts NaN and +-Inf
at the ends of a column: when the first and last sorted rows are finite, so
is every entry, and the generic screening pass is not needed.

``per_item = true`` applies the rule to each item's row among the clients that
sent it (a non-zero row), as the federated-recommendation literature
aggregates sparse item updates (Spattack's "sparse aggregation", Zhang et al.
AAAI 2025; PoisonFRS and PIECK run median and trimmed mean per item): a
client that never saw an item does not pull that item's row towards zero. An
item no one sent keeps a zero update; the parameters every item shares are
aggregated over all clients as before. The breakdown point then holds per item
among its senders, not for the whole update: an item that only attackers send
is theirs, which is the weakness Spattack exploits.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import Aggregate, Aggregator, RoundContext
from fedarena.defenses.per_item import checked_per_item, sent_rows
from fedarena.model import ItemRows


def sorted_columns(updates: Tensor) -> np.ndarray:
    """(n, d) array whose column k holds coordinate k of every update, ascending."""
    return np.sort(updates.detach().cpu().numpy(), axis=0)


def median_of_sorted(columns: np.ndarray) -> np.ndarray:
    """The median of each sorted column; the mean of the two middle values when n is even."""
    n = len(columns)
    low, high = columns[(n - 1) // 2], columns[n // 2]
    return low / 2 + high / 2


def as_update(values: np.ndarray) -> Tensor:
    """A float32 torch vector from a NumPy result."""
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


class CoordinateWise(Aggregator):
    """Base of the rules that read sorted columns; they flag no one. ``per_item`` and
    ``item_rows`` (given by the engines from the model's layout): see the module docstring."""

    per_item: bool = False
    item_rows: ItemRows | None = None

    def set_per_item(self, per_item: bool, item_rows: ItemRows | None) -> None:
        """Validate and keep the ``per_item`` option (called by each rule's constructor); a
        rule without its own ``from_sorted_counts`` has no per-item form."""
        per_item = checked_per_item(per_item, item_rows)
        if per_item and type(self).from_sorted_counts is CoordinateWise.from_sorted_counts:
            raise ValueError(f"{type(self).__name__} has no per_item form")
        self.per_item, self.item_rows = per_item, item_rows

    @abstractmethod
    def from_sorted(self, columns: np.ndarray, ctx: RoundContext) -> Tensor:
        """The aggregate from the (n, d) sorted columns."""

    def from_sorted_counts(
        self, columns: np.ndarray, counts: np.ndarray, ctx: RoundContext
    ) -> np.ndarray:
        """The aggregate of each column over its first ``counts[k]`` sorted values only (the
        senders of an item; the rest of the column is NaN), as float64. Optional: a rule (a
        plugin's too) that defines it can run ``per_item``."""
        raise NotImplementedError(f"{type(self).__name__} has no per_item form")

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        if self.per_item:
            return Aggregate(self._per_item(updates, ctx))
        return Aggregate(self.from_sorted(sorted_columns(updates), ctx))

    def unscreened(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate | None:
        if self.per_item:
            return None  # screened first: a non-finite row must not count as a sender
        columns = sorted_columns(updates)
        if len(columns) == 0 or not (
            np.isfinite(columns[0]).all() and np.isfinite(columns[-1]).all()
        ):
            return None
        return Aggregate(self.from_sorted(columns, ctx))

    def _per_item(self, updates: Tensor, ctx: RoundContext) -> Tensor:
        rows = self.item_rows
        assert rows is not None  # set_per_item refuses per_item without them
        values = updates.detach().cpu().numpy()
        sent = sent_rows(values, rows)
        out = torch.zeros(values.shape[1], dtype=torch.float32)
        if len(rows.dense):
            dense = np.sort(values[:, rows.dense], axis=0)
            out[torch.from_numpy(rows.dense)] = self.from_sorted(dense, ctx)
        if len(sent.touched):
            masked = np.where(sent.senders[:, :, None], sent.block, np.nan)
            columns = np.sort(masked.reshape(len(values), -1), axis=0)  # NaN sorts last
            counts = np.repeat(sent.senders.sum(axis=0), rows.width)
            item_values = self.from_sorted_counts(columns, counts, ctx)
            out[torch.from_numpy(sent.columns)] = as_update(item_values)
        return out


def per_column_median(columns: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The median of each column's first ``counts`` sorted values (mean of the two middle
    ones when even), float64."""
    at = np.arange(columns.shape[1])
    low = columns[(counts - 1) // 2, at].astype(np.float64)
    high = columns[counts // 2, at].astype(np.float64)
    return low / 2 + high / 2
