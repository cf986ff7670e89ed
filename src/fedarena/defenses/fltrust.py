"""FLTrust (Cao, Fang, Liu & Gong, NDSS 2021): trust bootstrapped from a clean root set."""

from __future__ import annotations

import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, OUTLIER_PATTERNS, Aggregate, Aggregator, RoundContext
from fedarena.defenses.geometry import dots, row_norms
from fedarena.options import integer


@DEFENSES.register("fltrust")
class FLTrust(Aggregator):
    """FLTrust (Cao, Fang, Liu & Gong, "FLTrust: Byzantine-robust Federated
    Learning via Trust Bootstrapping", NDSS 2021).

    The server trains the current model on its own small clean root set
    (``root_shoppers`` simulated shoppers) to get g_0. Each client's trust score
    is TS_i = ReLU(cos(x_i, g_0)); its update is rescaled to g_0's norm and

        g = sum_i TS_i (||g_0|| / ||x_i||) x_i / sum_i TS_i.

    Clients with TS_i = 0 are flagged. Called outside a scenario, the context
    must carry ``server_update``.

    >>> import torch, dataclasses
    >>> x = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-5.0, 0.0]])
    >>> ctx = dataclasses.replace(RoundContext.for_updates(x), server_update=lambda: torch.ones(2))
    >>> FLTrust().aggregate(x, torch.ones(3), ctx).update
    tensor([0.7071, 0.7071])
    """

    bounded_against = OUTLIER_PATTERNS

    def __init__(self, root_shoppers: int = 10) -> None:
        self.root_shoppers = integer("root_shoppers", root_shoppers, 1)

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        if ctx.server_update is None:
            raise ValueError(
                "fltrust needs the server's root-set update: RoundContext.server_update is None"
            )
        reference = ctx.server_update().detach().float()
        reference_norm = float(row_norms(reference[None])[0])
        norms = row_norms(updates)
        trust = torch.zeros(len(updates), dtype=torch.float64)
        if reference_norm > 0 and torch.isfinite(reference).all():
            cosine = dots(updates, reference, norms) / (norms.clamp_min(1e-300) * reference_norm)
            trust = cosine.clamp(0, 1)
        if not trust.sum() > 0:
            return Aggregate(updates.new_zeros(updates.shape[1]), trust > 0)
        coefficients = trust * reference_norm / norms.clamp_min(1e-300) / trust.sum()
        update = coefficients.float() @ updates
        return Aggregate(update, trust > 0, {"mean_trust": float(trust.mean())})
