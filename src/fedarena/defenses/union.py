"""UNION (Yu et al., "Untargeted Attack against Federated Recommendation Systems via Poisonous
Item Embeddings and the Defense", AAAI 2023): spread item embeddings, drop the odd cluster."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fedarena.defenses.base import DEFENSES, Aggregate, Aggregator, RoundContext, weighted_mean
from fedarena.errors import SpecError
from fedarena.model import ItemRows, Recommender, SharedLayout
from fedarena.options import integer, non_negative, positive
from fedarena.training.contrastive import ContrastiveTerm
from fedarena.training.local import Trainer
from fedarena.training.sequential import SequentialTrainer
from fedarena.training.vectorised import VectorisedTrainer


@DEFENSES.register("union")
class Union(Aggregator):
    """UNION: benign clients keep the item embeddings uniform; the server drops the clients
    whose update would make them less (or more) uniform than the rest (Yu et al., AAAI 2023).

    *Clients* add ``weight`` times a contrastive loss on the item embeddings to local
    training: each interacted item is pulled towards another interacted item and pushed
    from ``negatives`` items never interacted with, at ``temperature``
    (``fedarena.training.contrastive``; the reference's weight 1 and 15 negatives).
    Trained this way, honest updates keep the embeddings spread out, and an attack that
    collapses them (ClusterAttack) stands out.

    *Server*, each round: draw ``items`` items without replacement (the reference: 500).
    For each client, apply its update alone to their rows, ``v_i + d_ci``. Its uniformity
    ``U_c`` is the mean distance between two of those rows. Min-max normalise the ``U_c``
    and cluster them into two groups, by the exact one-dimensional 2-means (a split of the
    sorted values). The gap statistic (Tibshirani et al. 2001) against ``references`` draws
    of as many uniform values on [0, 1] says whether there are two clusters::

        gap_k = mean_b log W*_kb - log W_k,   s_k = sd_b(log W*_kb) sqrt(1 + 1/B)
        two clusters  <=>  gap_1 < gap_2 - s_2

    with ``W_k`` the within-cluster sum of squares of k-means with k clusters. The smaller
    cluster (the less uniform one on a tie) is dropped when there are two clusters, or when
    it holds no more than f clients (the reference's rule, with f the scenario's assumed
    number of malicious clients). The rest are averaged with their weights. A client's
    suspicion is its normalised distance to the kept cluster's mean.

    Departures from the reference: an update's effect is ``v + d`` (the server step FedAvg
    takes), not a replay of the server's Adam step for each client. The reference draws the
    items with replacement and the reference uniforms once for a cache; here both are drawn
    each round from the round's generator. The engines give it the model's item rows
    (``item_rows``). Its client part needs fedarena's simulation, not a Flower strategy.
    """

    def __init__(
        self,
        items: int = 500,
        references: int = 50,
        weight: float = 1.0,
        negatives: int = 15,
        temperature: float = 1.0,
        item_rows: ItemRows | None = None,
    ) -> None:
        self.items = integer("items", items, 2)
        self.references = integer("references", references, 2)
        self.weight = non_negative("weight", weight)
        self.negatives = integer("negatives", negatives, 1)
        self.temperature = positive("temperature", temperature)
        if item_rows is None:
            raise ValueError(
                "union needs the model's item rows, which fedarena's engines give: "
                "use it in a scenario, not by hand"
            )
        self.item_rows = item_rows

    def client_trainer(self, tower: Recommender, layout: SharedLayout, trainer: Trainer) -> Trainer:
        """The engine's local training with the contrastive term added to every step."""
        if not isinstance(trainer, VectorisedTrainer | SequentialTrainer):
            raise SpecError(f"union adds its term to fedarena's own trainers, not to {trainer}")
        n_items = len(self.item_rows.index)
        return trainer.regularised(
            ContrastiveTerm(self.weight, self.negatives, self.temperature, n_items)
        )

    def combine(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        score = self.uniformity(updates, ctx)
        keep, suspicion, two = filtered(score, ctx.n_malicious, self.references, ctx.generator)
        diagnostics = {"two_clusters": float(two), "filtered": float((~keep).sum())}
        update = weighted_mean(updates[keep], weights[keep], updates.shape[1])
        return Aggregate(update, keep, diagnostics, suspicion)

    def uniformity(self, updates: Tensor, ctx: RoundContext) -> Tensor:
        """Each client's ``U_c`` (float64): the mean distance between two of the sampled
        items' rows after its update alone."""
        index = torch.from_numpy(self.item_rows.index)
        drawn = torch.randperm(len(index), generator=ctx.generator)[: self.items]
        columns = index[drawn]  # (s, width)
        after = ctx.global_params[columns].double() + updates[:, columns].double()
        s = len(drawn)
        if s < 2:
            return torch.zeros(len(updates), dtype=torch.float64)
        return torch.cdist(after, after).sum(dim=(1, 2)) / (s * (s - 1))


def filtered(
    score: Tensor, f: int, references: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, bool]:
    """Whom UNION keeps given the clients' uniformity ``score`` (the class docstring), each
    client's suspicion, and whether the gap statistic found two clusters."""
    n = len(score)
    keep = torch.ones(n, dtype=torch.bool)
    low, high = score.min(), score.max()
    if n < 3 or not high > low:
        return keep, torch.zeros(n, dtype=torch.float64), False
    x = (score - low) / (high - low)
    order = torch.argsort(x, stable=True)
    within, split = two_means(x[order])
    draws = torch.rand(references, n, generator=generator, dtype=torch.float64).sort(dim=1).values
    reference_1 = torch.log(_spread(draws))
    reference_2 = torch.log(two_means(draws)[0])
    gap_1 = float(reference_1.mean()) - math.log(float(_spread(x)))
    gap_2 = float(reference_2.mean()) - math.log(float(within)) if within > 0 else math.inf
    s_2 = float(reference_2.std(unbiased=False)) * math.sqrt(1 + 1 / references)
    two = gap_1 < gap_2 - s_2
    lower, upper = order[:split], order[split:]
    smaller = lower if len(lower) <= len(upper) else upper
    if two or len(smaller) <= f:
        keep[smaller] = False
    centre = x[keep].mean()
    return keep, (x - centre).abs(), two


def two_means(values: Tensor) -> tuple[Tensor, int]:
    """The exact 2-means of sorted one-dimensional ``values`` (..., n): its within-cluster
    sum of squares (...) and, for a single row, where the upper cluster starts. The best
    split of sorted values is between two neighbours, so every split is tried."""
    n = values.shape[-1]
    total, squares = values.cumsum(-1), (values**2).cumsum(-1)
    left = torch.arange(1, n, dtype=values.dtype)
    sum_left, square_left = total[..., :-1], squares[..., :-1]
    sum_right = total[..., -1:] - sum_left
    square_right = squares[..., -1:] - square_left
    sse = square_left - sum_left**2 / left + square_right - sum_right**2 / (n - left)
    best = sse.clamp_min(0).min(dim=-1)
    split = int(best.indices.reshape(-1)[0]) + 1
    return best.values, split


def _spread(values: Tensor) -> Tensor:
    """The within-cluster sum of squares of one cluster: sum of (x - mean)^2 over the last
    axis."""
    return ((values - values.mean(-1, keepdim=True)) ** 2).sum(-1)
