"""FedNCF: the closed-form backpropagation against autograd, the scoring paths against the
module's forward, the Gauss-Newton user fit, and the trainers against the torch.optim
reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call

import fedarena.ncf
from both_trainers import CLIENTS, trained_both_ways
from fedarena.engine.evaluation import EvalConfig, fit_users, fitting_columns
from fedarena.model import SharedLayout, init_user_embeddings
from fedarena.ncf import NeuralCF
from fedarena.training.local import LocalTraining, training_examples


@pytest.fixture()
def ncf(catalog, population):
    generator = torch.Generator().manual_seed(2)
    model = NeuralCF(len(catalog), dim=8)
    model.reset_parameters(generator)
    layout = SharedLayout.of(model)
    users = init_user_embeddings(len(population), 8, generator) * 30
    return model, layout, layout.flatten(model), users


def _stacked(model, k, b, seed=0):
    """k clients' own float64 copies of every parameter (perturbed, so the copies differ),
    their users, rows (one repeated within a client) and score derivatives."""
    g = torch.Generator().manual_seed(seed)
    params = {
        name: value.detach().double().expand(k, *value.shape)
        + 0.3 * torch.randn(k, *value.shape, generator=g, dtype=torch.float64)
        for name, value in model.named_parameters()
    }
    user = torch.randn(k, model.dim, generator=g, dtype=torch.float64)
    rows = torch.randint(0, model.n_items, (k, b), generator=g)
    rows[0, 1] = rows[0, 0]
    dscore = torch.randn(k, b, generator=g, dtype=torch.float64)
    return params, user, rows, dscore


def test_the_layers_are_the_references_shape(ncf):
    model, layout = ncf[:2]
    assert layout.names == (
        "item_embedding",
        *(f"weights.{i}" for i in range(3)),
        *(f"biases.{i}" for i in range(3)),
    )
    assert [tuple(w.shape) for w in model.weights] == [(8, 16), (8, 8), (1, 8)]
    assert layout.per_item == ("item_embedding",)
    assert all(float(b.detach().abs().sum()) == 0 for b in model.biases)
    for weight in model.weights:  # Kaiming-uniform for ReLU: |w| <= sqrt(6 / fan_in)
        assert float(weight.abs().max()) <= (6 / weight.shape[1]) ** 0.5


def test_stacked_forward_is_the_modules_forward_and_its_gradients_are_autograds(ncf):
    model = ncf[0]
    params, user, rows, dscore = _stacked(model, k=3, b=7)
    leaves = {name: value.clone().requires_grad_(True) for name, value in params.items()}
    user_leaf = user.clone().requires_grad_(True)
    (dscore * model.stacked_forward(leaves, user_leaf, rows, rows).scores).sum().backward()
    batch = model.stacked_forward(params, user, rows, rows)
    grads, user_grad = model.stacked_gradients(params, batch, dscore)
    for name in params:
        torch.testing.assert_close(grads[name], leaves[name].grad)
    torch.testing.assert_close(user_grad, user_leaf.grad)
    torch.testing.assert_close(model.user_gradient(params, batch, dscore), user_leaf.grad)
    for c in range(3):
        own = {name: value[c] for name, value in params.items()}
        expected = functional_call(model.double(), own, (user[c], rows[c]))
        torch.testing.assert_close(batch.scores[c], expected)


@pytest.mark.parametrize("with_user", [False, True])
def test_example_gradient_norms_equal_per_example_autograd(ncf, with_user):
    model = ncf[0]
    params, user, rows, dscore = _stacked(model, k=2, b=5, seed=3)
    norms = model.example_gradient_norms(
        params, model.stacked_forward(params, user, rows, rows), dscore, with_user
    )
    for j in range(5):
        leaves = {name: value.clone().requires_grad_(True) for name, value in params.items()}
        user_leaf = user.clone().requires_grad_(True)
        scores = model.stacked_forward(leaves, user_leaf, rows, rows).scores
        (dscore[:, j] * scores[:, j]).sum().backward()
        squares = sum(leaf.grad.flatten(1).square().sum(1) for leaf in leaves.values())
        if with_user:
            squares = squares + user_leaf.grad.square().sum(1)
        torch.testing.assert_close(norms[:, j], squares.sqrt())


def test_score_all_and_the_linearisation_agree_with_forward(ncf, monkeypatch):
    model = ncf[0].double()
    g = torch.Generator().manual_seed(4)
    users = torch.randn(5, model.dim, generator=g, dtype=torch.float64)
    monkeypatch.setattr(fedarena.ncf, "SCORE_CHUNK", 2 * model.n_items)  # chunks of 2 users
    every = torch.arange(model.n_items).expand(5, -1)
    torch.testing.assert_close(model.score_all(users), model(users, every))
    items, partners = (torch.randint(0, model.n_items, (5, 6), generator=g) for _ in range(2))
    linearisation = model.user_linearisation(items, partners)
    scores, jacobian = linearisation.linearise(users)
    rows = torch.tensor([3, 0])
    torch.testing.assert_close(linearisation.scores(users[rows], rows), scores[rows])

    def difference(u):
        return model(u, items) - model(u, partners)

    full = torch.autograd.functional.jacobian(difference, users)  # (5, 6, 5, dim)
    torch.testing.assert_close(scores, difference(users))
    torch.testing.assert_close(jacobian, torch.stack([full[n, :, n] for n in range(5)]))


def test_the_user_fit_descends_to_a_local_minimum_of_the_ridge_logistic_loss(ncf, population):
    model = ncf[0]
    config = LocalTraining(loss="bce")
    rng = np.random.default_rng(0)
    examples = training_examples(*population.train_log(4), model.n_items, config, rng)
    items, labels, weights = (torch.from_numpy(c)[None] for c in fitting_columns(examples, "bce"))

    def objective(u):
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            model(u, items[0]), labels[0].float(), reduction="none"
        )
        return float((weights[0] * losses).sum() + u @ u)

    with torch.no_grad():
        fits = [
            fit_users(model, items, labels, weights, EvalConfig(newton_steps=steps))[0]
            for steps in (0, 1, 2, 4, 8, 30)
        ]
        values = [objective(u) for u in fits]
        assert values == sorted(values, reverse=True) and values[-1] < values[0] - 1
        # A ReLU network's loss has kinks, so the gradient need not vanish at the minimum:
        # check that no nearby point is lower instead.
        g = torch.Generator().manual_seed(0)
        for _ in range(50):
            nearby = fits[-1] + 0.02 * torch.randn(model.dim, generator=g)
            assert objective(nearby) >= values[-1]


def test_a_users_fit_does_not_depend_on_who_is_fitted_beside_it(ncf, population):
    model = ncf[0]
    config = LocalTraining(loss="bce")
    rng = np.random.default_rng(1)
    columns = [
        fitting_columns(
            training_examples(*population.train_log(s), model.n_items, config, rng), "bce"
        )
        for s in range(6)
    ]
    width = max(len(c[0]) for c in columns)
    items, labels, weights = (
        torch.stack(
            [
                torch.nn.functional.pad(torch.from_numpy(c[k]), (0, width - len(c[k])))
                for c in columns
            ]
        )
        for k in range(3)
    )
    with torch.no_grad():
        together = fit_users(model, items, labels, weights, EvalConfig())
        for row in (0, 3, 5):
            alone = fit_users(
                model,
                items[row : row + 1],
                labels[row : row + 1],
                weights[row : row + 1],
                EvalConfig(),
            )
            torch.testing.assert_close(alone[0], together[row])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_vectorised_equals_sequential_for_ncf(ncf, population, optimizer):
    model, layout, init, users = ncf
    config = LocalTraining(epochs=2, batch_size=8, lr=0.05, optimizer=optimizer, loss="bce")
    fast, batches = trained_both_ways(model, layout, init, users, population, config)
    rows = model.n_items * model.dim
    delta = (fast.shared - init)[:, :rows].reshape(len(CLIENTS), model.n_items, -1)
    for row in range(len(CLIENTS)):  # item rows: only the client's examples' move
        moved = set(delta[row].abs().sum(-1).nonzero().flatten().tolist())
        steps = batches.rows(row)
        assert moved and moved <= set(batches.items[steps][batches.weight[steps] > 0].tolist())
        assert bool(((fast.shared - init)[row, rows:] != 0).any())  # the layers all move
