"""UNION's contrastive term: its loss and closed-form gradient, its draws, and both trainers
agreeing with it on FedMF, FedNCF and the tower."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from both_trainers import CLIENTS, trained_both_ways
from fedarena.factorisation import MatrixFactorisation
from fedarena.model import SharedLayout, build_model, init_user_embeddings
from fedarena.ncf import NeuralCF
from fedarena.training.contrastive import ContrastiveTerm
from fedarena.training.local import LocalTraining, build_batches, training_examples
from fedarena.training.sequential import SequentialTrainer
from fedarena.training.vectorised import VectorisedTrainer

TERM = ContrastiveTerm(weight=1.0, negatives=3, temperature=0.5, n_items=40)


def test_loss_known_answer():
    # anchor (1, 0), positive (1, 0), one negative (0, 1), T = 1: l = log(e + 1) - 1
    term = ContrastiveTerm(weight=2.0, negatives=1, temperature=1.0, n_items=3)
    vectors = torch.tensor([[[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]])
    loss = term.loss(vectors, torch.tensor([[True]]))
    assert float(loss) == pytest.approx(2 * (math.log(math.e + 1) - 1))


def test_padding_adds_nothing():
    vectors = torch.randn(1, 2, 5, 4, generator=torch.Generator().manual_seed(0)).double()
    one = TERM.loss(vectors[:, :1], torch.tensor([[True]]))
    padded = TERM.loss(vectors, torch.tensor([[True, False]]))
    torch.testing.assert_close(one, padded)
    gradient = TERM.gradient(vectors, torch.tensor([[True, False]]))
    assert not gradient[:, 1].any()


def test_gradient_is_the_loss_gradient():
    vectors = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(1)).double()
    real = torch.tensor([[True] * 4, [True, True, False, False], [False] * 4])
    leaf = vectors.clone().requires_grad_(True)
    TERM.loss(leaf, real).sum().backward()
    torch.testing.assert_close(TERM.gradient(vectors, real), leaf.grad)


def test_draws_are_the_clients_own_items_and_never_interacted_ones(catalog, population):
    config = LocalTraining(epochs=1, batch_size=8, loss="bpr")
    rngs = [np.random.default_rng([3, int(c)]) for c in CLIENTS]
    data = [
        training_examples(*population.train_log(int(c)), len(catalog), config, r)
        for c, r in zip(CLIENTS, rngs, strict=True)
    ]
    batches = build_batches(data, config, rngs)
    term = ContrastiveTerm(1.0, 5, 1.0, len(catalog))
    sets = term.draw(batches)
    assert sets.items.shape[-1] == 2 + 5
    for c, client in enumerate(CLIENTS):
        items, labels = population.train_log(int(client))
        bought = set(items[labels > 0.5].tolist())
        rows = batches.rows(c)
        drawn = sets.items[rows][sets.real[rows]]
        assert len(bought) < 2 or set(drawn[:, 0].tolist()) == bought  # each is an anchor
        assert set(drawn[:, 1].tolist()) <= bought
        assert (drawn[:, 0] != drawn[:, 1]).all()
        assert not set(drawn[:, 2:].flatten().tolist()) & bought
    again = term.draw(batches)
    assert torch.equal(sets.items, again.items)


def _model(kind: str, catalog, population):
    generator = torch.Generator().manual_seed(1)
    if kind == "mf":
        model = MatrixFactorisation(len(catalog), dim=8)
    elif kind == "ncf":
        model = NeuralCF(len(catalog), dim=8)
    else:
        model = build_model("tower", catalog, 8)
    model.reset_parameters(generator)
    layout = SharedLayout.of(model)
    users = init_user_embeddings(len(population), 8, generator)
    return model, layout, layout.flatten(model), users


@pytest.mark.parametrize(
    "kind, loss",
    [("mf", "bpr"), ("mf", "bce"), ("ncf", "bce"), ("tower", "bce"), ("tower", "bpr")],
)
def test_both_trainers_agree_with_the_term(kind, loss, catalog, population):
    model, layout, init, users = _model(kind, catalog, population)
    config = LocalTraining(epochs=2, batch_size=8, lr=0.05, loss=loss)
    term = ContrastiveTerm(1.0, 4, 0.5, len(catalog))
    with_term, _ = trained_both_ways(model, layout, init, users, population, config, term)
    without, _ = trained_both_ways(model, layout, init, users, population, config)
    assert not torch.allclose(with_term.shared, without.shared)


def test_clients_without_two_interacted_items_train_as_without_the_term(model, population):
    tower, layout, init, users = model
    config = LocalTraining(epochs=1, batch_size=4, lr=0.05)
    rngs = [np.random.default_rng([5, c]) for c in range(2)]
    data = [(np.array([3, 7, 9]), np.zeros(3, np.float32), np.ones(3, np.float32))] * 2
    batches = build_batches(data, config, rngs)
    term = ContrastiveTerm(1.0, 4, 1.0, len(tower.item_bias))
    assert not term.draw(batches).real.any()
    for kind in (VectorisedTrainer, SequentialTrainer):
        plain = kind(tower, layout).train(init, users[:2], batches, config)
        with_term = kind(tower, layout, term).train(init, users[:2], batches, config)
        torch.testing.assert_close(with_term.shared, plain.shared)
