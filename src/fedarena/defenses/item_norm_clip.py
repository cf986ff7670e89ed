"""Item-level norm bound: each item's row of each update clipped on its own (FedRecAttack)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, Preaggregated, PreAggregator, RoundContext
from fedarena.defenses.geometry import row_norms
from fedarena.model import ItemRows
from fedarena.options import is_number

ADAPTIVE = "median"


@DEFENSES.register("item_norm_clip")
class ItemNormClip(PreAggregator):
    """Bound the norm of every item row of every update (Rong et al., ICDE 2022, sec. V).

    r_ci <- r_ci * min(1, tau / ||r_ci||) for client c's row of item i (its
    embedding row and bias), with tau = ``max_norm``, or the median norm of the
    round's sent rows (the non-zero ones) when ``max_norm = median``. A
    malicious client can then move any one item only as far as tau, however
    hard it pushes, which is the bound FedRecAttack's evaluation places on its
    own poisoned item gradients. The parameters every item shares are left as
    they are: chain a whole-update rule after it (``item_norm_clip >
    norm_clip > median``). A pre-aggregator; it rejects no one, so no client is
    flagged. The engines give it the model's item rows (``item_rows``).

    >>> import numpy as np
    >>> rows = ItemRows(index=np.array([[0, 1], [2, 3]]), dense=np.array([4]))
    >>> x = torch.tensor([[3.0, 4.0, 0.3, 0.4, 9.0]])
    >>> clip = ItemNormClip(max_norm=1.0, item_rows=rows)
    >>> clip.preaggregate(x, torch.ones(1), RoundContext.for_updates(x)).updates
    tensor([[0.6000, 0.8000, 0.3000, 0.4000, 9.0000]])
    """

    def __init__(self, max_norm: float | str = ADAPTIVE, item_rows: ItemRows | None = None) -> None:
        if not (max_norm == ADAPTIVE or (is_number(max_norm) and max_norm > 0)):
            raise ValueError(f"max_norm must be > 0 or {ADAPTIVE}, got {max_norm!r}")
        if item_rows is None:
            raise ValueError(
                "item_norm_clip needs the model's item rows, which fedarena's engines give: "
                "use it in a scenario, not by hand"
            )
        self.max_norm = max_norm
        self.item_rows = item_rows

    def transform(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Preaggregated:
        index = torch.from_numpy(self.item_rows.index)
        n, (n_items, width) = len(updates), index.shape
        if n == 0 or n_items == 0:
            return Preaggregated(updates, weights, diagnostics={"clipped_fraction": 0.0})
        columns = index.reshape(-1)
        block = updates.index_select(1, columns)  # (n, n_items * width)
        norms = row_norms(block.reshape(n * n_items, width)).reshape(n, n_items)
        sent = norms > 0
        if self.max_norm == ADAPTIVE:
            bound = float(np.median(norms[sent].numpy())) if sent.any() else 0.0
        else:
            bound = float(self.max_norm)
        clipped = norms > bound
        out = updates
        if clipped.any():  # only the clipped rows change: a factor of 1 would leave the rest
            client, item = clipped.nonzero(as_tuple=True)
            rows = block.reshape(n, n_items, width)[client, item].double()
            scaled = rows * (bound / norms[client, item]).unsqueeze(-1)
            out = updates.clone()
            out[client.unsqueeze(-1), index[item]] = scaled.to(updates.dtype)
        share = float(clipped.sum()) / max(int(sent.sum()), 1)
        return Preaggregated(
            out, weights, diagnostics={"item_clip_norm": bound, "clipped_fraction": share}
        )
