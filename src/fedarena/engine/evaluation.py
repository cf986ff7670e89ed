"""Evaluate a global model on the benign shoppers' held-out purchases.

Before scoring, every evaluated shopper fits its private embedding to the
current global item side on its own training data, as a deployed client would
before serving recommendations (federated collaborative filtering solves the
user factor locally, Ammad-ud-din et al. 2019). The fit is the unique minimiser
of a ridge-regularised logistic loss over the shopper's examples ``e``::

    u* = argmin_u  sum_e w_e BCE(h . (u * v_e) + b_e, y_e) + l2 ||u||^2

or, for a model trained with BPR (FedMF), the same over its pairs ``(a, b)`` with
``v_e = v_a - v_b``, ``b_e = b_a - b_b`` and ``y_e = 1`` (BPR's loss is the logistic
loss of the score difference), found by Newton's method (strictly convex, so it does not
depend on where it starts or on how often the shopper took part in training). FedNCF's
score is not linear in ``u``: its fit is Gauss-Newton on the same loss with the score
linearised at the current ``u``, each step halved until the loss falls, from ``u = 0``
for every user, so it is a local minimiser that still depends on nothing but the
user's data and the global model. The same protocol
scores federated, centralised and attacked models, so differences between them
are differences of the shared item side.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fedarena.data.shoppers import Population
from fedarena.metrics import EXPOSURE_KEYS, exposure_metrics, ranking_metrics
from fedarena.model import Recommender, SharedLayout
from fedarena.seeds import Stream, stream
from fedarena.training.local import Examples, LocalTraining, training_examples

CHUNK_SHOPPERS = 1024
CHUNK_EXAMPLES = 2**22  # padded examples in one fitting table (rows x its longest log)
BUCKET_EXAMPLES = 2**17  # the same, for tables of rows of similar length (see _padded_chunks)
CHUNK_CASES = 2**16  # test cases scored at once (each with its 99 negatives)
BACKTRACKING_HALVINGS = 12  # step halvings a Gauss-Newton fit tries (FedNCF)


@dataclass(frozen=True)
class EvalConfig:
    """How shoppers fit their private embedding before being scored."""

    l2: float = 1.0
    newton_steps: int = 8


def fit_users(
    tower: Recommender,
    items: Tensor,
    labels: Tensor,
    weights: Tensor,
    config: EvalConfig,
    partners: Tensor | None = None,
) -> Tensor:
    """Newton's method for every shopper's ``u*`` at once (see the module docstring).

    ``items``, ``labels`` and ``weights`` are (n_shoppers, max_examples), padded
    with weight 0; ``partners``, for pairs, the second item of each. A shopper whose
    Newton system is singular in float32 (only under a diverged model) takes no step.
    """
    with torch.no_grad():
        linearisation = tower.user_linearisation(items, partners)
        n, dim = items.shape[0], tower.dim
        users = torch.zeros(n, dim)
        ridge = 2.0 * config.l2 * torch.eye(dim)
        for _ in range(config.newton_steps):
            scores, vectors = linearisation.linearise(users)
            p = torch.sigmoid(scores)
            grad = torch.einsum("nl,nld->nd", weights * (p - labels), vectors)
            grad += 2.0 * config.l2 * users
            curvature = weights * p * (1 - p)
            hessian = torch.einsum("nl,nld,nle->nde", curvature, vectors, vectors) + ridge
            step, singular = torch.linalg.solve_ex(hessian, grad.unsqueeze(-1))
            step = step.squeeze(-1)
            # A diverged model (an attack that blew item vectors up to 1e12 and more) swamps
            # the ridge in float32 and leaves a Hessian singular: that shopper keeps its u.
            step[(singular != 0) | ~torch.isfinite(step).all(-1)] = 0.0
            if tower.LINEAR_IN_USER:
                users -= step
            else:
                users = _backtrack(
                    lambda u, rows: _ridge_logistic(
                        linearisation.scores(u, rows), u, labels[rows], weights[rows], config.l2
                    ),
                    users,
                    step,
                )
        return users


def _ridge_logistic(scores: Tensor, users: Tensor, labels: Tensor, weights: Tensor, l2: float):
    """Each shopper's fitting objective, ``sum_e w_e BCE(s_e, y_e) + l2 ||u||^2``, shape (n,)."""
    losses = torch.nn.functional.binary_cross_entropy_with_logits(
        scores, labels.to(scores.dtype), reduction="none"
    )
    return (weights * losses).sum(-1) + l2 * users.square().sum(-1)


def _backtrack(
    objective: Callable[[Tensor, Tensor], Tensor], users: Tensor, step: Tensor
) -> Tensor:
    """Each row's ``u - t step`` for the largest ``t`` in 1, 1/2, 1/4, ... that does not
    increase its objective (the row stays where it is if none does): a Gauss-Newton step
    on a score that is not linear in ``u`` can overshoot. ``objective(u, rows)`` is the
    objective of the users ``rows`` at ``u``; rows are judged one by one, and only those
    still unsettled are evaluated again, so a shopper's fit does not depend on who is
    fitted beside it."""
    every = torch.arange(len(users))
    current = objective(users, every)
    fitted, open_rows = users.clone(), every
    scale = 1.0
    for _ in range(BACKTRACKING_HALVINGS):
        candidate = users[open_rows] - scale * step[open_rows]
        better = objective(candidate, open_rows) <= current[open_rows]
        fitted[open_rows[better]] = candidate[better]
        open_rows = open_rows[~better]
        if not len(open_rows):
            break
        scale /= 2
    return fitted


class Evaluator:
    """HR@10, NDCG@10 and AUC of a global model over a fixed set of shoppers."""

    def __init__(
        self,
        tower: Recommender,
        layout: SharedLayout,
        population: Population,
        shoppers: np.ndarray,
        local: LocalTraining,
        seed: int,
        config: EvalConfig = EvalConfig(),
    ) -> None:
        self.tower = copy.deepcopy(tower).requires_grad_(False)
        self.layout = layout
        self.config = config
        self.shoppers = np.asarray(shoppers, dtype=np.int64)
        rng = stream(seed, Stream.EVALUATION)
        examples = [
            fitting_columns(
                training_examples(*population.train_log(int(s)), tower.n_items, local, rng),
                local.loss,
            )
            for s in self.shoppers
        ]
        self._fit_chunks = _padded_chunks(examples)
        row_of = np.full(len(population), -1)
        row_of[self.shoppers] = np.arange(len(self.shoppers))
        selected = row_of[population.test_shopper] >= 0
        self._case_shopper = population.test_shopper[selected]
        self._case_row = torch.from_numpy(row_of[self._case_shopper])
        self._case_items = torch.from_numpy(population.test_items[selected])
        self._population = population

    def _exposure(self, users: Tensor, targets: np.ndarray) -> dict[str, float | None]:
        """ER@K and target rank over the shoppers who never interacted with a target."""
        seen = [self._population.train_log(int(s))[0] for s in self.shoppers]
        touched = np.zeros(len(self.shoppers), dtype=bool)
        hit_cases = np.isin(self._case_items[:, 0].numpy(), targets)
        touched[self._case_row.numpy()[hit_cases]] = True
        population = self._population
        owner = np.repeat(np.arange(len(population)), population.n_train)
        touched |= np.isin(self.shoppers, owner[np.isin(population.train_items, targets)])
        eligible = np.flatnonzero(~touched)
        if not len(eligible):
            return dict.fromkeys(EXPOSURE_KEYS)
        totals = dict.fromkeys(EXPOSURE_KEYS, 0.0)
        with torch.no_grad():
            for lo in range(0, len(eligible), CHUNK_SHOPPERS):
                rows = eligible[lo : lo + CHUNK_SHOPPERS]
                scores = self.tower.score_all(users[torch.from_numpy(rows)])
                for i, row in enumerate(rows):
                    scores[i, torch.from_numpy(seen[row])] = -torch.inf
                for key, value in exposure_metrics(scores, torch.from_numpy(targets)).items():
                    totals[key] += value * len(rows)
        return {key: value / len(eligible) for key, value in totals.items()}

    def fitted_users(self, global_params: Tensor) -> Tensor:
        """Every evaluated shopper's ``u*`` under ``global_params`` (row order of ``shoppers``)."""
        self.layout.load(self.tower, global_params)
        users = torch.empty(len(self.shoppers), self.tower.dim)
        for rows, items, labels, weights, *partners in self._fit_chunks:
            users[rows] = fit_users(self.tower, items, labels, weights, self.config, *partners)
        return users

    def __call__(
        self, global_params: Tensor, targets: np.ndarray | None = None
    ) -> dict[str, float]:
        """Utility metrics of ``global_params``, plus ER@10 when ``targets`` are given."""
        users = self.fitted_users(global_params)
        with torch.no_grad():  # in chunks of cases: 100,000 shoppers peaked at 8.7 GB at once
            scores = torch.cat(
                [
                    self.tower(users[rows], items)
                    for rows, items in zip(
                        self._case_row.split(CHUNK_CASES),
                        self._case_items.split(CHUNK_CASES),
                        strict=True,
                    )
                ]
            )
        metrics = ranking_metrics(scores, self._case_shopper)
        if targets is not None and len(targets):
            metrics |= self._exposure(users, np.asarray(targets, dtype=np.int64))
        return metrics


def fitting_columns(examples: Examples, loss: str) -> tuple[np.ndarray, ...]:
    """What a shopper fits ``u*`` on: its (items, labels, weights), or for ``bpr`` its pairs
    as (first items, labels 1, pair weights, second items), ``label 1`` meaning the first is
    preferred (``fedarena.training.objective``'s layout, orientation and weights)."""
    if loss != "bpr":
        return examples
    items, labels, weights = examples
    half = len(items) // 2
    sign = labels[:half] - labels[half:]
    first = np.where(sign >= 0, items[:half], items[half:])
    second = np.where(sign >= 0, items[half:], items[:half])
    pair_weight = weights[:half] * weights[half:] * np.abs(sign)
    return first, np.ones(half, np.float32), pair_weight.astype(np.float32), second


def _padded_chunks(examples: list[tuple[np.ndarray, ...]]) -> list[tuple[Tensor, ...]]:
    """The shoppers' fitting columns (``fitting_columns``) as padded tables of at most
    ``CHUNK_SHOPPERS`` rows, to be fitted one table at a time.

    When every row padded to the longest fits in ``CHUNK_EXAMPLES``, the rows keep their order
    and one width. Otherwise (a real log's heavy tail: a MovieLens user with 2,391 ratings
    beside a median of 71) rows are taken shortest first, each table padded to its own longest
    row and holding at most ``BUCKET_EXAMPLES`` padded examples (small tables, so that each
    spans a narrow range of lengths). Returns (rows, items, labels, weights[, partners]) per
    table, ``rows`` indexing ``examples``.
    """
    lengths = np.array([len(e[0]) for e in examples])
    uniform = len(lengths) * lengths.max() <= CHUNK_EXAMPLES
    order = np.arange(len(lengths)) if uniform else np.argsort(lengths, kind="stable")
    chunks = []
    start = 0
    while start < len(order):
        stop = start + 1
        while (
            stop < len(order)
            and stop - start < CHUNK_SHOPPERS
            and (uniform or (stop + 1 - start) * lengths[order[stop]] <= BUCKET_EXAMPLES)
        ):
            stop += 1
        rows = order[start:stop]
        width = lengths.max() if uniform else lengths[rows].max()
        padded = np.zeros((len(examples[0]), len(rows), width), dtype=np.float64)
        for at, row in enumerate(rows):
            padded[:, at, : lengths[row]] = examples[row]
        items, labels, weights, *partners = padded
        chunks.append(
            (
                torch.from_numpy(rows),
                torch.from_numpy(items.astype(np.int64)),
                torch.from_numpy(labels.astype(np.float32)),
                torch.from_numpy(weights.astype(np.float32)),
                *(torch.from_numpy(p.astype(np.int64)) for p in partners),
            )
        )
        start = stop
    return chunks
