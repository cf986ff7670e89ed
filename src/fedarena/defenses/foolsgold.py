"""FoolsGold (Fung, Yoon & Beschastnikh, RAID 2020), against Sybils."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, Aggregate, Aggregator, RoundContext, weighted_mean
from fedarena.defenses.geometry import cosine_similarities
from fedarena.options import positive


def foolsgold_weights(similarities: Tensor, kappa: float) -> Tensor:
    """Per-client learning rates alpha in [0, 1] from the (n, n) cosine similarities of histories.

    As in the paper's Algorithm 1: v_i = max_{j != i} cs_ij; pardoning
    cs_ij <- cs_ij v_i / v_j when v_i < v_j; alpha_i = 1 - max_j cs_ij clipped
    to [0, 1] and scaled so that max alpha = 1 (then 0.99); finally
    alpha_i = kappa (ln(alpha_i / (1 - alpha_i)) + 0.5) clipped to [0, 1].
    """
    n = len(similarities)
    cs = similarities - torch.eye(n, dtype=similarities.dtype)
    top = cs.max(dim=1).values
    pardon = (top[:, None] < top[None, :]) & (top[None, :] > 0)
    cs = torch.where(pardon, cs * top[:, None] / top[None, :].clamp_min(1e-300), cs)
    alpha = (1 - cs.max(dim=1).values).clamp(0, 1)
    if not alpha.max() > 0:
        return torch.zeros_like(alpha)
    alpha = alpha / alpha.max()
    alpha[alpha == 1] = 0.99
    alpha = kappa * (torch.log(alpha / (1 - alpha)) + 0.5)
    return torch.nan_to_num(alpha, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)


@DEFENSES.register("foolsgold")
class FoolsGold(Aggregator):
    """FoolsGold (Fung, Yoon & Beschastnikh, "The Limitations of Federated
    Learning in Sybil Settings", RAID 2020).

    Each client's history H_i is the sum of all updates it has sent. Sybils
    pushing one goal have histories of cosine similarity near 1; each client
    gets a learning rate alpha_i from the similarities of the round's
    histories (``foolsgold_weights``) and the aggregate is
    g = sum_i alpha_i w_i x_i / sum_i alpha_i w_i (FedAvg when all alpha_i = 1).
    A client with alpha_i = 0 is flagged; its suspicion is 1 - alpha_i.
    Histories are kept per client id for the whole run.

    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 5.0]])
    >>> FoolsGold().aggregate(x, torch.ones(4), RoundContext.for_updates(x)).accepted
    tensor([ True,  True, False, False])
    """

    bounded_against = frozenset({"coordinated"})  # it targets Sybils pushing one way
    tuning_grid: ClassVar[dict[str, tuple[float, ...]]] = {"kappa": (0.5, 1.0, 2.0)}

    def __init__(self, kappa: float = 1.0) -> None:
        self.kappa = positive("kappa", kappa)
        self._history: dict[int, Tensor] = {}

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        ids = [int(i) for i in ctx.client_ids]
        for client, update in zip(ids, updates, strict=True):
            past = self._history.get(client)
            self._history[client] = update.clone() if past is None else past + update
        histories = torch.stack([self._history[client] for client in ids])
        alpha = foolsgold_weights(cosine_similarities(histories), self.kappa)
        update = weighted_mean(updates, alpha.float() * weights, updates.shape[1])
        return Aggregate(update, alpha > 0, {"mean_alpha": float(alpha.mean())}, 1 - alpha)
