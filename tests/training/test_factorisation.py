"""FedMF (BPR matrix factorisation): the closed forms against autograd, the pair layout, and
the trainers against the torch.optim reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from both_trainers import CLIENTS, trained_both_ways
from fedarena.engine.evaluation import EvalConfig, fit_users, fitting_columns
from fedarena.factorisation import MatrixFactorisation
from fedarena.model import SharedLayout, init_user_embeddings
from fedarena.training.dp_sgd import PerExampleClipping
from fedarena.training.local import LocalTraining, build_batches, training_examples
from fedarena.training.objective import batch_loss, example_terms, mean_loss_derivative

BPR = LocalTraining(epochs=2, batch_size=8, lr=0.05, loss="bpr")


@pytest.fixture()
def mf(catalog, population):
    generator = torch.Generator().manual_seed(1)
    model = MatrixFactorisation(len(catalog), dim=8)
    model.reset_parameters(generator)
    layout = SharedLayout.of(model)
    users = init_user_embeddings(len(population), 8, generator) * 30  # scores away from 0
    return model, layout, layout.flatten(model), users


def test_bpr_loss_and_derivative_known_answer():
    # One pair, s_a = 2, s_b = 0.5: l = -log sigmoid(1.5), dl/ds_a = -sigmoid(-1.5) = -dl/ds_b.
    scores = torch.tensor([2.0, 0.5])
    loss, weight, derivative = example_terms(scores, torch.tensor([1.0, 0.0]), torch.ones(2), "bpr")
    assert float(loss) == pytest.approx(math.log1p(math.exp(-1.5)))
    assert float(weight) == 1.0
    expected = 1 / (1 + math.exp(1.5))
    torch.testing.assert_close(derivative, torch.tensor([-expected, expected]))
    # Labels swapped (label flipping): the pair is trained the other way round.
    flipped, _, _ = example_terms(scores, torch.tensor([0.0, 1.0]), torch.ones(2), "bpr")
    assert float(flipped) == pytest.approx(math.log1p(math.exp(1.5)))
    # Equal labels or a zero weight: no loss, no gradient, no weight.
    for labels, weights in (([1.0, 1.0], [1.0, 1.0]), ([1.0, 0.0], [0.0, 1.0])):
        terms = example_terms(scores, torch.tensor(labels), torch.tensor(weights), "bpr")
        assert all(float(t.abs().sum()) == 0 for t in terms)


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_mean_loss_derivative_is_the_gradient_of_the_batch_loss(loss):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 12, generator=g, dtype=torch.float64).requires_grad_(True)
    labels = (torch.rand(3, 12, generator=g) > 0.5).double()
    weight = torch.rand(3, 12, generator=g, dtype=torch.float64)
    batch_loss(scores, labels, weight, loss).sum().backward()
    ours = mean_loss_derivative(scores.detach(), labels, weight, loss)
    torch.testing.assert_close(ours, scores.grad)


def _stacked(model, k, b, seed=0):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(k, model.n_items, model.dim, generator=g, dtype=torch.float64)
    user = torch.randn(k, model.dim, generator=g, dtype=torch.float64)
    rows = torch.randint(0, model.n_items, (k, 2 * b), generator=g)
    rows[0, b] = rows[0, 0]  # a pair whose two items are the same row
    dscore = torch.randn(k, 2 * b, generator=g, dtype=torch.float64)
    return {"item_embedding": table}, user, rows, dscore


def test_stacked_gradients_equal_autograd(mf):
    model = mf[0]
    params, user, rows, dscore = _stacked(model, k=3, b=5)
    table = params["item_embedding"].clone().requires_grad_(True)
    user_leaf = user.clone().requires_grad_(True)
    batch = model.stacked_forward({"item_embedding": table}, user_leaf, rows, rows)
    (dscore * batch.scores).sum().backward()
    batch = model.stacked_forward(params, user, rows, rows)
    grads, user_grad = model.stacked_gradients(params, batch, dscore)
    torch.testing.assert_close(grads["item_embedding"], table.grad)
    torch.testing.assert_close(user_grad, user_leaf.grad)
    for c in range(3):
        expected = params["item_embedding"][c][rows[c]] @ user[c]
        torch.testing.assert_close(batch.scores[c], expected)


@pytest.mark.parametrize("with_user", [False, True])
def test_pair_gradient_norms_equal_per_pair_autograd(mf, with_user):
    model = mf[0]
    b = 4
    params, user, rows, dscore = _stacked(model, k=2, b=b, seed=3)
    batch = model.stacked_forward(params, user, rows, rows)
    norms = model.example_gradient_norms(params, batch, dscore, with_user)
    for c in range(2):
        for j in range(b):
            table = params["item_embedding"][c].clone().requires_grad_(True)
            u = user[c].clone().requires_grad_(True)
            pair = torch.stack([rows[c, j], rows[c, b + j]])
            score = (u * table[pair]).sum(-1)
            (dscore[c, j] * score[0] + dscore[c, b + j] * score[1]).backward()
            squares = table.grad.square().sum() + (u.grad.square().sum() if with_user else 0)
            assert float(norms[c, j]) == pytest.approx(float(squares.sqrt()), rel=1e-10)


def test_bpr_examples_pair_each_purchase_with_drawn_items():
    items = np.array([3, 5, 8])
    labels = np.array([1.0, 0.0, 1.0])  # 5 was browsed only: no part in BPR
    config = LocalTraining(negatives_per_positive=2, loss="bpr")
    first_rng, second_rng = np.random.default_rng(0), np.random.default_rng(0)
    pairs, pair_labels, weights = training_examples(items, labels, 50, config, first_rng)
    drawn = second_rng.integers(0, 50, size=4)
    np.testing.assert_array_equal(pairs, [3, 3, 8, 8, *drawn])
    np.testing.assert_array_equal(pair_labels, [1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(weights, np.ones(8))


def test_bpr_batches_keep_pairs_together(population):
    config = LocalTraining(epochs=2, batch_size=8, loss="bpr")
    clients = [0, 7, 13]
    rngs = [np.random.default_rng(c) for c in clients]
    data = [
        training_examples(*population.train_log(c), 400, config, r)
        for c, r in zip(clients, rngs, strict=True)
    ]
    batches = build_batches(data, config, rngs)
    assert batches.items.shape[-1] == 2 * config.batch_size
    for row, (items, _, _) in enumerate(data):
        half = len(items) // 2
        expected = sorted(zip(items[:half].tolist(), items[half:].tolist(), strict=True)) * 2
        steps = batches.rows(row)
        real = batches.weight[steps] > 0
        first, second = batches.items[steps, :8], batches.items[steps, 8:]
        assert torch.equal(real[:, :8], real[:, 8:])
        got = list(zip(first[real[:, :8]].tolist(), second[real[:, 8:]].tolist(), strict=True))
        assert sorted(got) == sorted(expected)
        assert bool((batches.labels[steps, :8][real[:, :8]] == 1).all())


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_vectorised_equals_sequential_for_mf(mf, population, optimizer):
    model, layout, init, users = mf
    config = LocalTraining(epochs=2, batch_size=8, lr=0.05, optimizer=optimizer, loss="bpr")
    fast, batches = trained_both_ways(model, layout, init, users, population, config)
    delta = (fast.shared - init).reshape(len(CLIENTS), model.n_items, -1)
    for row in range(len(CLIENTS)):  # sparse: only the rows of the client's pairs move
        moved = set(delta[row].abs().sum(-1).nonzero().flatten().tolist())
        steps = batches.rows(row)
        assert moved and moved <= set(batches.items[steps][batches.weight[steps] > 0].tolist())


def test_dp_clipping_of_pairs_bounds_each_pair(mf):
    model = mf[0]
    params, user, rows, _ = _stacked(model, k=2, b=6, seed=5)
    labels = torch.cat([torch.ones(2, 6), torch.zeros(2, 6)], dim=1).double()
    clipping = PerExampleClipping(model, max_grad_norm=0.1, user_embedding=True)
    clipped = clipping(params, user, rows, labels, torch.ones(2, 12).double())
    assert clipped.clipped_fraction > 0
    # The clipped sum is the sum of the pairs' own gradients, each scaled to norm <= C.
    for c in range(2):
        total = torch.zeros_like(params["item_embedding"][c])
        for j in range(6):
            table = params["item_embedding"][c].clone().requires_grad_(True)
            u = user[c].clone().requires_grad_(True)
            score = (u * table[torch.stack([rows[c, j], rows[c, 6 + j]])]).sum(-1)
            torch.nn.functional.softplus(score[1] - score[0]).backward()
            norm = (table.grad.square().sum() + u.grad.square().sum()).sqrt()
            total += table.grad * min(1.0, 0.1 / (float(norm) + 1e-6))
        torch.testing.assert_close(clipped.shared["item_embedding"][c], total)


def test_bpr_fit_is_the_ridge_logistic_optimum_of_the_pairs(mf, population):
    model = mf[0]
    config = LocalTraining(loss="bpr")
    rng = np.random.default_rng(0)
    columns = fitting_columns(training_examples(*population.train_log(2), 400, config, rng), "bpr")
    first, labels, weights, second = (torch.from_numpy(c)[None] for c in columns)
    user = fit_users(model, first, labels, weights, EvalConfig(newton_steps=20), second)[0]
    u = user.clone().requires_grad_(True)
    with torch.no_grad():
        difference = model.item_vectors(first[0]) - model.item_vectors(second[0])
    objective = (weights[0] * torch.nn.functional.softplus(-(difference @ u))).sum() + u @ u
    objective.backward()
    assert float(u.grad.abs().max()) < 1e-4
