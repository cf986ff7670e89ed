"""Reference points for the federated model: popularity, local-only and centralised training.

- ``popularity``: every shopper gets the items most bought in the benign
  shoppers' training logs (ties broken by a fixed random order).
- ``local``: each shopper trains its own model, from the same initial weights,
  on its own log only (no federation), then is scored with it.
- ``centralised``: one model trained on all benign shoppers' logs pooled on a
  server, the upper bound federated training aims for; scored with the same
  evaluation protocol (embedding refit) as the federated model.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

from fedarena.data.shoppers import Population
from fedarena.engine.evaluation import Evaluator
from fedarena.metrics import ranking_metrics
from fedarena.model import Recommender, SharedLayout
from fedarena.seeds import Stream, stream
from fedarena.training.local import LocalTraining, build_batches, training_examples
from fedarena.training.objective import batch_loss
from fedarena.training.vectorised import VectorisedTrainer

LOCAL_CHUNK = 128
CENTRALISED_EPOCHS = 2
CENTRALISED_BATCH = 256
CENTRALISED_LR = 0.01


def popularity(population: Population, shoppers: np.ndarray, seed: int) -> dict[str, float]:
    """Metrics of ranking items by their number of training purchases."""
    n_items = int(max(population.train_items.max(), population.test_items.max())) + 1
    counts = np.zeros(n_items)
    for s in shoppers:
        items, labels = population.train_log(int(s))
        np.add.at(counts, items[labels > 0.5], 1.0)
    tiebreak = stream(seed, Stream.POPULARITY_TIEBREAK).permutation(n_items) / n_items
    score = torch.from_numpy(counts + 0.5 * tiebreak)
    selected = np.isin(population.test_shopper, shoppers)
    return ranking_metrics(
        score[torch.from_numpy(population.test_items[selected])],
        population.test_shopper[selected],
    )


def local_only(
    tower: Recommender,
    layout: SharedLayout,
    init: Tensor,
    users: Tensor,
    population: Population,
    shoppers: np.ndarray,
    local: LocalTraining,
    seed: int,
) -> dict[str, float]:
    """Metrics when every shopper trains alone for ``local.epochs`` epochs."""
    trainer = VectorisedTrainer(tower, layout)
    n_items = tower.n_items
    scores, case_shopper = [], []
    order = np.argsort(population.test_shopper, kind="stable")
    bounds = np.searchsorted(population.test_shopper[order], [shoppers, shoppers + 1])
    for lo in range(0, len(shoppers), LOCAL_CHUNK):
        chunk = shoppers[lo : lo + LOCAL_CHUNK]
        rngs = [stream(seed, Stream.LOCAL_BASELINE, s) for s in chunk]
        datasets = [
            training_examples(*population.train_log(int(s)), n_items, local, r)
            for s, r in zip(chunk, rngs, strict=True)
        ]
        result = trainer.train(init, users[chunk], build_batches(datasets, local, rngs), local)
        with torch.no_grad():
            for row in range(len(chunk)):
                cases = order[bounds[0, lo + row] : bounds[1, lo + row]]
                items = torch.from_numpy(population.test_items[cases])
                params = layout.unflatten(result.shared[row])
                user = result.users[row].expand(len(items), -1)
                scores.append(functional_call(tower, params, (user, items)))
                case_shopper.append(population.test_shopper[cases])
    return ranking_metrics(torch.cat(scores), np.concatenate(case_shopper))


def centralised(
    tower: Recommender,
    layout: SharedLayout,
    init: Tensor,
    users: Tensor,
    population: Population,
    evaluator: Evaluator,
    local: LocalTraining,
    seed: int,
) -> dict[str, float]:
    """Metrics of one model trained on the pooled examples of the evaluated shoppers.

    Adam with ``CENTRALISED_LR`` over minibatches of ``CENTRALISED_BATCH`` pooled
    examples (pairs, for BPR) for ``CENTRALISED_EPOCHS`` epochs, the recipe that
    scored best on the default scenario (``benchmarks/targets.py`` reports it).
    """
    shoppers = evaluator.shoppers
    tower = copy.deepcopy(tower)
    layout.load(tower, init)
    table = users.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([*tower.parameters(), table], lr=CENTRALISED_LR)
    rng = stream(seed, Stream.CENTRALISED)
    sides = 2 if local.loss == "bpr" else 1  # a pair's two items, in the loss's layout
    for _ in range(CENTRALISED_EPOCHS):
        examples = [
            training_examples(*population.train_log(int(s)), tower.n_items, local, rng)
            for s in shoppers
        ]
        items, labels, weights = (
            torch.from_numpy(np.concatenate([a.reshape(sides, -1) for a in column], axis=1))
            for column in zip(*examples, strict=True)
        )
        owner = torch.from_numpy(np.repeat(shoppers, [len(e[0]) // sides for e in examples]))
        order = torch.from_numpy(rng.permutation(items.shape[1]))
        for batch in order.split(CENTRALISED_BATCH):
            optimizer.zero_grad()
            scores = tower(table[owner[batch]], items[:, batch].T).T.reshape(-1)
            loss = batch_loss(
                scores, labels[:, batch].reshape(-1), weights[:, batch].reshape(-1), local.loss
            )
            loss.backward()
            optimizer.step()
    return evaluator(layout.flatten(tower))
