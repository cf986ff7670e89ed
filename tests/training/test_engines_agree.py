"""The vectorised engine computes what the sequential torch.optim reference computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.training.local import LocalTraining, build_batches, training_examples
from fedarena.training.sequential import SequentialTrainer
from fedarena.training.vectorised import VectorisedTrainer, adam_step


def _round_batches(population, n_items, config, clients):
    rngs = [np.random.default_rng([7, int(c)]) for c in clients]
    data = [
        training_examples(*population.train_log(int(c)), n_items, config, r)
        for c, r in zip(clients, rngs, strict=True)
    ]
    return build_batches(data, config, rngs)


@pytest.mark.parametrize(
    "config",
    [
        LocalTraining(epochs=2, batch_size=16, lr=0.05, optimizer="adam"),
        LocalTraining(epochs=2, batch_size=16, lr=0.5, optimizer="sgd"),
        LocalTraining(epochs=1, batch_size=8, lr=0.05, optimizer="adam", prox_mu=0.5),
    ],
    ids=["adam", "sgd", "fedprox"],
)
def test_vectorised_equals_sequential(model, population, config):
    tower, layout, init, users = model
    clients = np.array([0, 3, 5, 11, 17, 29])
    batches = _round_batches(population, len(tower.item_bias), config, clients)
    assert batches.steps.unique().numel() > 1, "want clients of unequal length"
    fast = VectorisedTrainer(tower, layout).train(init, users[clients], batches, config)
    slow = SequentialTrainer(tower, layout).train(init, users[clients], batches, config)
    torch.testing.assert_close(fast.shared, slow.shared, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(fast.users, slow.users, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(fast.loss, slow.loss.to(fast.loss.dtype), atol=1e-5, rtol=1e-4)
    weights = torch.from_numpy(population.n_train[clients]).float()
    weights /= weights.sum()
    torch.testing.assert_close(weights @ fast.shared, weights @ slow.shared, atol=1e-5, rtol=1e-4)


def test_untouched_item_rows_do_not_move(model, population):
    tower, layout, init, users = model
    config = LocalTraining(epochs=1, batch_size=16)
    clients = np.array([1, 2])
    batches = _round_batches(population, len(tower.item_bias), config, clients)
    result = VectorisedTrainer(tower, layout).train(init, users[clients], batches, config)
    delta = layout.unflatten(result.shared - init)["item_embedding"]
    for row, _ in enumerate(clients):
        steps = batches.rows(row)
        seen = batches.items[steps][batches.weight[steps] > 0].unique()
        moved = delta[row].abs().sum(dim=1).nonzero().flatten()
        assert set(moved.tolist()) <= set(seen.tolist())
        assert len(moved) > 0


def test_fedprox_zero_mu_is_fedavg_local_training(model, population):
    tower, layout, init, users = model
    plain = LocalTraining(epochs=1, batch_size=16)
    prox = LocalTraining(epochs=1, batch_size=16, prox_mu=0.0)
    clients = np.array([4, 9])
    batches = _round_batches(population, len(tower.item_bias), plain, clients)
    trainer = VectorisedTrainer(tower, layout)
    a = trainer.train(init, users[clients], batches, plain)
    b = trainer.train(init, users[clients], batches, prox)
    assert torch.equal(a.shared, b.shared)


def test_adam_step_equals_torch_optim_adam_on_strided_gradients():
    # Views with gaps between rows, as DP-SGD's noise chunks are: torch's fused CPU kernel
    # reads a gradient's memory in order, so the step must hand it contiguous tensors.
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(4, 10, generator=g)[:, :5] for _ in range(3)]
    params = [torch.randn(4, 5, generator=g) for _ in range(3)]
    reference = [p.clone().requires_grad_(True) for p in params]
    optimizer = torch.optim.Adam(reference, lr=0.05, foreach=False)
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    for step in (1, 2, 3):
        for p, grad in zip(reference, grads, strict=True):
            p.grad = grad.clone()
        optimizer.step()
        adam_step(params, grads, first, second, step, lr=0.05)
    for ours, theirs in zip(params, reference, strict=True):
        torch.testing.assert_close(ours, theirs.detach(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_updates_on_changed_columns_are_the_dense_updates_bit_for_bit(model, population, optimizer):
    tower, layout, init, users = model
    config = LocalTraining(epochs=2, batch_size=16, lr=0.05, optimizer=optimizer, prox_mu=0.1)
    clients = np.array([0, 3, 5, 11, 17, 29])
    batches = _round_batches(population, len(tower.item_bias), config, clients)
    trainer = VectorisedTrainer(tower, layout)
    dense = trainer.train(init, users[clients], batches, config)
    sparse = trainer.train_updates(init, users[clients], batches, config)
    columns = sparse.updates.columns
    assert bool((columns.diff() > 0).all()) and len(columns) < len(init)
    assert torch.equal(sparse.updates.dense(), dense.shared - init)
    assert torch.equal(sparse.users, dense.users) and torch.equal(sparse.loss, dense.loss)
    # the norms it computed from each client's own rows are the norms of its updates
    whole = torch.linalg.vector_norm(dense.shared - init, dim=1, dtype=torch.float64)
    assert sparse.updates.row_norms is not None
    torch.testing.assert_close(sparse.updates.row_norms, whole, rtol=1e-12, atol=0.0)


def test_a_client_whose_training_goes_non_finite_gets_a_non_finite_norm(model, population):
    tower, layout, init, users = model
    config = LocalTraining(epochs=1, batch_size=16, lr=0.05, optimizer="sgd", prox_mu=0.0)
    clients = np.array([0, 3, 5])
    batches = _round_batches(population, len(tower.item_bias), config, clients)
    trained = VectorisedTrainer(tower, layout).train_updates(init, users[clients], batches, config)
    poisoned = users[clients].clone()
    poisoned[1] = float("nan")  # client 3's own vector: only its item rows' steps see it
    result = VectorisedTrainer(tower, layout).train_updates(init, poisoned, batches, config)
    norms = result.updates.norms()
    assert bool(norms[1].isnan()) and bool(torch.isfinite(norms[[0, 2]]).all())
    assert torch.equal(norms[[0, 2]], trained.updates.norms()[[0, 2]])
