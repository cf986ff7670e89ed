"""The evaluation's private-embedding fit is the ridge-logistic optimum."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedarena.engine import evaluation
from fedarena.engine.evaluation import EvalConfig, Evaluator, fit_users
from fedarena.scenario.world import build_world
from fedarena.training.local import LocalTraining
from tiny import TINY


def test_newton_fit_is_the_optimum(model, population):
    tower, _, _, _ = model
    generator = torch.Generator().manual_seed(1)
    items = torch.randint(0, len(tower.item_bias), (4, 30), generator=generator)
    labels = (torch.rand(4, 30, generator=generator) < 0.3).float()
    weights = torch.rand(4, 30, generator=generator)
    with torch.no_grad():
        tower.item_embedding.mul_(20)  # a non-trivial item side
    config = EvalConfig(l2=0.5, newton_steps=12)
    fitted = fit_users(tower, items, labels, weights, config).requires_grad_(True)
    scores = tower(fitted, items)
    loss = (
        torch.nn.functional.binary_cross_entropy_with_logits(
            scores, labels, weight=weights, reduction="sum"
        )
        + config.l2 * (fitted**2).sum()
    )
    (gradient,) = torch.autograd.grad(loss, fitted)
    assert gradient.abs().max() < 1e-4


def test_evaluation_is_independent_of_stored_embeddings_and_deterministic(model, population):
    tower, layout, flat, _ = model
    shoppers = np.arange(0, len(population), 2)
    a = Evaluator(tower, layout, population, shoppers, LocalTraining(), seed=0)(flat)
    b = Evaluator(tower, layout, population, shoppers, LocalTraining(), seed=0)(flat)
    assert a == b
    assert set(a) == {"ndcg@10", "hr@10", "auc"}


def test_exposure_only_counts_shoppers_who_never_saw_the_target(model, population):
    tower, layout, flat, _ = model
    evaluator = Evaluator(tower, layout, population, np.arange(len(population)), LocalTraining(), 0)
    popular = np.bincount(population.train_items).argmax()
    with torch.no_grad():
        item_bias = layout.unflatten(flat)["item_bias"]
        item_bias[popular] = 100.0  # the model pushes the target to everyone's top
    m = evaluator(flat, targets=np.array([popular]))
    assert m["er@10"] == 1.0 and m["target_rank"] == 0.0


def test_scoring_in_chunks_of_cases_gives_the_same_metrics(model, population, monkeypatch):
    tower, layout, flat, _ = model
    shoppers = np.arange(len(population))
    whole = Evaluator(tower, layout, population, shoppers, LocalTraining(), seed=0)(flat)
    monkeypatch.setattr(evaluation, "CHUNK_CASES", 7)  # many chunks, the last one short
    chunked = Evaluator(tower, layout, population, shoppers, LocalTraining(), seed=0)(flat)
    assert chunked.keys() == whole.keys()
    for key, value in whole.items():
        assert chunked[key] == pytest.approx(value, abs=1e-6)


def test_a_diverged_model_is_scored_not_crashed():
    """FedAttack at local SGD lr 16 blew MovieLens item vectors up to 1e12-1e16: in float32
    the ridge vanishes beside them and some shoppers' Newton systems are singular, which
    ``torch.linalg.solve`` raised on, failing the cell. Those shoppers now keep their u."""
    world = build_world(replace(TINY, model="mf", shoppers=200))
    n, dim = world.n_items, TINY.dim
    scale = 10 ** (torch.rand(n, generator=torch.Generator().manual_seed(1)) * 6 + 12)
    diverged = world.init_params.clone()
    diverged[: n * dim] = (diverged[: n * dim].view(n, dim) * scale[:, None]).reshape(-1)
    metrics = world.evaluator()(diverged)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("hr@10", "ndcg@10", "auc"))
