"""Screen what clients sent before any defense sees it.

A malicious client may send anything. An update is well-formed when it is a
floating-point tensor of shape (d,) whose entries are finite and whose L2 norm
(computed in float64) fits in float32. Malformed updates are rejected and the
sender flagged; the rest are stacked, as float32, for the defense.

A reported sample count (the weight the server gives an update) is usable
when it is a finite number in [1, ``MAX_REPORTED_EXAMPLES``] (2^31 - 1, the
range of the attacks' ``report_examples``). Anything else (NaN, inf, 0,
negative, 1e300) rejects that client's update and flags it, in both engines,
rather than overflowing float32 and silently zeroing the round.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fedarena.attacks.base import MAX_REPORTED_EXAMPLES
from fedarena.updates import SparseUpdates

FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def is_well_formed(update: Any, dim: int) -> bool:
    """Whether ``update`` may reach a defense (see the module docstring)."""
    if not isinstance(update, Tensor) or not update.is_floating_point():
        return False
    if update.shape != (dim,):
        return False
    # One float64 reduction: a NaN or infinite entry makes the norm NaN or inf, both refused.
    return float(torch.linalg.vector_norm(update.detach(), dtype=torch.float64)) <= FLOAT32_MAX


def usable_weight(reported: Any) -> float | None:
    """A reported sample count as a weight, or ``None`` when it is not usable (see above)."""
    if isinstance(reported, bool) or not isinstance(reported, int | float):
        return None
    value = float(reported)
    return value if 1.0 <= value <= MAX_REPORTED_EXAMPLES else None


def screen(sent: list[Any], dim: int) -> tuple[Tensor, Tensor]:
    """Stack the well-formed updates; return them and the (n,) mask of who sent them."""
    valid = torch.tensor([is_well_formed(u, dim) for u in sent], dtype=torch.bool)
    kept = [u.detach().float() for u, ok in zip(sent, valid.tolist(), strict=True) if ok]
    if not kept:
        return torch.empty(0, dim), valid
    whole = _rows_of_one_matrix(kept)
    return (torch.stack(kept) if whole is None else whole), valid


def screen_sparse(updates: SparseUpdates, usable: Tensor) -> tuple[SparseUpdates, Tensor]:
    """As ``screen`` for updates the engine computed itself (right type and shape), restricted
    to the clients ``usable`` marks: the kept ones and the (n,) mask of who sent them. The
    zero columns add nothing to a norm, so the kept columns (or the norms the trainer
    computed from each client's own rows) decide."""
    norms = updates.norms()
    valid = usable & (norms <= FLOAT32_MAX)
    return updates.select(valid), valid


def _rows_of_one_matrix(rows: list[Tensor]) -> Tensor | None:
    """The float32 matrix whose rows, in order, are exactly ``rows``, when they lie one after
    the other in one storage (the in-process engine sends the rows of one tensor: stacking
    them again would copy n x d floats for nothing); else ``None``."""
    first = rows[0]
    if first.dtype != torch.float32:
        return None
    storage, start, width = first.untyped_storage().data_ptr(), first.storage_offset(), len(first)
    for i, row in enumerate(rows):
        if (
            row.dtype != torch.float32
            or row.stride() != (1,)
            or row.untyped_storage().data_ptr() != storage
            or row.storage_offset() != start + i * width
        ):
            return None
    return first.as_strided((len(rows), width), (width, 1), start)
