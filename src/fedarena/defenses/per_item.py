"""Per-item aggregation's bookkeeping: which clients sent which item rows of a round's updates.

The rules with a ``per_item`` option (``fedarena.defenses.coordinatewise``,
``fedarena.defenses.krum``) aggregate each item's row among the clients that
sent it, a non-zero row (an honest client's update is exactly zero on every
item it did not train on), and the parameters every item shares over all
clients. The engines give them the model's item rows (``fedarena.model.ItemRows``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedarena.model import ItemRows


def checked_per_item(per_item: object, item_rows: ItemRows | None) -> bool:
    """The ``per_item`` option, refused unless it is a bool and, when true, item rows exist."""
    if not isinstance(per_item, bool):
        raise ValueError(f"per_item must be true or false, got {per_item!r}")
    if per_item and item_rows is None:
        raise ValueError(
            "per_item needs the model's item rows, which fedarena's engines give: "
            "use it in a scenario, not by hand"
        )
    return per_item


@dataclass(frozen=True)
class SentRows:
    """The item rows someone sent in a round: ``block[c, j]`` is client c's row of item
    ``touched[j]``, sent where ``senders[c, j]``; ``columns`` are those rows' columns in the
    flat update, item after item."""

    block: np.ndarray  # (n, t, width)
    senders: np.ndarray  # (n, t) bool
    touched: np.ndarray  # (t,)
    columns: np.ndarray  # (t * width,)


def sent_rows(values: np.ndarray, rows: ItemRows) -> SentRows:
    """Split the (n, d) updates ``values`` into the rows of the items at least one client sent."""
    if rows.index.size and rows.index.max() >= values.shape[1]:
        raise ValueError(
            f"item rows reach column {rows.index.max()}, updates have {values.shape[1]}"
        )
    block = values[:, rows.index]  # (n, n_items, width)
    sent = (block != 0).any(axis=2)
    touched = np.flatnonzero(sent.any(axis=0))
    return SentRows(
        block=block[:, touched],
        senders=sent[:, touched],
        touched=touched,
        columns=rows.index[touched].reshape(-1),
    )
