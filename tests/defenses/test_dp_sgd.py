"""DP-SGD: clipped per-example gradients equal Opacus's, noise of the stated scale, accounting
(the accounting's shared parts: ``test_privacy_accounting.py``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant
from opacus.optimizers import DPOptimizer
from torch import nn
from torch.func import functional_call

from fedarena.defenses import AccountingSetting, create_defense
from fedarena.defenses.dp_sgd import epoch_batch_sizes
from fedarena.defenses.privacy import ORDERS, gaussian_epsilon
from fedarena.model import SharedLayout, init_user_embeddings
from fedarena.ncf import NeuralCF
from fedarena.training.dp_sgd import DpSgdTrainer, PerExampleClipping
from fedarena.training.local import (
    LocalBatches,
    LocalTraining,
    build_batches,
    training_examples,
)
from fedarena.training.vectorised import VectorisedTrainer


class OneShopper(nn.Module):
    """One shopper's model for Opacus: every shared parameter and the user embedding as direct
    parameters (Opacus rejects modules with buffers, so the tower's buffers ride along as
    plain tensors)."""

    def __init__(self, tower, user: torch.Tensor, train_user: bool) -> None:
        super().__init__()
        self._tower = (tower,)
        self._fixed = dict(tower.named_buffers())
        self.names = [name for name, _ in tower.named_parameters()]
        for name, value in tower.named_parameters():
            self.register_parameter(_attribute(name), nn.Parameter(value.detach().clone()))
        self.user = nn.Parameter(user.clone(), requires_grad=train_user)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        params = {name: getattr(self, _attribute(name)) for name in self.names}
        users = self.user.expand(len(items), -1)
        scores = functional_call(self._tower[0], params | self._fixed, (users, items[:, None]))
        return scores[:, 0]


def _attribute(name: str) -> str:
    """A parameter's name as a module attribute (FedNCF's ``weights.0`` has a dot)."""
    return name.replace(".", "_")


@pytest.fixture(params=["tower", "ncf"])
def recommender(request, model, catalog, population):
    """The shop's tower (``model``) or FedNCF: both are trained with BCE on single items."""
    if request.param == "tower":
        return model
    generator = torch.Generator().manual_seed(0)
    ncf = NeuralCF(len(catalog), dim=8)
    ncf.reset_parameters(generator)
    layout = SharedLayout.of(ncf)
    return ncf, layout, layout.flatten(ncf), init_user_embeddings(len(population), 8, generator)


def _batch(n_items: int, size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(0, n_items, (size,), generator=g)
    labels = (torch.rand(size, generator=g) < 0.3).float()
    weight = torch.where(torch.rand(size, generator=g) < 0.5, 1.0, 0.1)
    weight[-3:] = 0.0  # padding
    return items, labels, weight


@pytest.mark.filterwarnings("ignore:Full backward hook:UserWarning")
@pytest.mark.filterwarnings("ignore:In CPU autocast:UserWarning")
@pytest.mark.parametrize("max_grad_norm", [0.01, 1e6], ids=["all-clipped", "none-clipped"])
@pytest.mark.parametrize("user_embedding", [True, False], ids=["user-in", "user-out"])
def test_clipped_per_example_gradients_equal_opacus(recommender, max_grad_norm, user_embedding):
    tower, layout, init, users = recommender
    items, labels, weight = _batch(tower.n_items, 16, seed=1)

    reference = OneShopper(tower, users[0], train_user=user_embedding)
    sampled = GradSampleModule(reference, loss_reduction="sum")
    optimizer = DPOptimizer(
        torch.optim.SGD([p for p in reference.parameters() if p.requires_grad], lr=0.0),
        noise_multiplier=0.0,
        max_grad_norm=max_grad_norm,
        expected_batch_size=len(items),
        loss_reduction="sum",
    )
    losses = nn.functional.binary_cross_entropy_with_logits(
        sampled(items), labels, reduction="none"
    )
    (weight * losses).sum().backward()
    optimizer.pre_step()

    shared = {name: value[None] for name, value in layout.unflatten(init).items()}
    ours = PerExampleClipping(tower, max_grad_norm, user_embedding)(
        shared, users[:1], items[None], labels[None], weight[None]
    )
    for name in layout.names:
        torch.testing.assert_close(
            ours.shared[name][0], getattr(reference, _attribute(name)).grad, atol=1e-6, rtol=1e-5
        )
    if user_embedding:
        torch.testing.assert_close(ours.user[0], reference.user.grad, atol=1e-6, rtol=1e-5)
    else:
        user = users[0].clone().requires_grad_(True)
        plain = OneShopper(tower, users[0], train_user=False)
        scores = functional_call(plain, {"user": user}, (items,))
        loss = (
            weight
            * nn.functional.binary_cross_entropy_with_logits(scores, labels, reduction="none")
        ).sum()
        torch.testing.assert_close(
            ours.user[0], torch.autograd.grad(loss, user)[0], atol=1e-6, rtol=1e-5
        )
    if max_grad_norm < 1:
        assert ours.clipped_fraction == 1.0


def _full_batches(n_items: int, steps_per_client: list[int], batch: int, seed: int) -> LocalBatches:
    """Batches without padding and with unit weights, of unequal lengths per client."""
    g = torch.Generator().manual_seed(seed)
    rows = sum(steps_per_client)
    items = torch.randint(0, n_items, (rows, batch), generator=g)
    labels = (torch.rand(rows, batch, generator=g) < 0.3).float()
    steps = torch.tensor(steps_per_client)
    return LocalBatches(items, labels, torch.ones(rows, batch), steps, torch.arange(len(steps)))


@pytest.mark.parametrize("user_embedding", [True, False])
def test_without_noise_or_clipping_it_is_plain_sgd(model, user_embedding):
    tower, layout, init, users = model
    batches = _full_batches(len(tower.item_bias), [3, 1, 2], batch=8, seed=2)
    config = LocalTraining(epochs=1, batch_size=8, lr=0.5, optimizer="sgd")
    dp = DpSgdTrainer(tower, layout, 0.0, 1e9, user_embedding)
    ours = dp.train(init, users[:3], batches, config)
    plain = VectorisedTrainer(tower, layout).train(init, users[:3], batches, config)
    torch.testing.assert_close(ours.shared, plain.shared, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours.users, plain.users, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours.loss, plain.loss, atol=1e-5, rtol=1e-4)


def test_noise_has_the_stated_scale_on_every_parameter(model):
    tower, layout, init, users = model
    batches = _full_batches(len(tower.item_bias), [1], batch=8, seed=3)
    batches = replace(batches, weight=torch.zeros_like(batches.weight))
    config = LocalTraining(epochs=1, batch_size=8, lr=1.0, optimizer="sgd")
    sigma, clip = 2.0, 0.5
    result = DpSgdTrainer(tower, layout, sigma, clip, True).train(init, users[:1], batches, config)
    step = (result.shared[0] - init) * config.batch_size
    assert abs(float(step.std()) / (sigma * clip) - 1) < 0.05
    assert (step != 0).float().mean() == 1.0, "noise reaches rows of items never seen"


@pytest.mark.parametrize(
    "n, b, epochs", [(10, 4, 2), (3, 8, 3), (100, 64, 3), (64, 64, 1), (7, 5, 4), (0, 4, 2)]
)
def test_every_epoch_puts_each_example_in_exactly_one_batch_of_the_stated_sizes(n, b, epochs):
    config = LocalTraining(epochs=epochs, batch_size=b)
    data = [(np.arange(n), np.ones(n, dtype=np.float32), np.ones(n, dtype=np.float32))]
    sizes = epoch_batch_sizes(n, b)
    per_epoch = max(1, len(sizes))
    for seed in range(20):
        batches = build_batches(data, config, [np.random.default_rng(seed)])
        assert len(batches.rows(0)) == epochs * per_epoch
        items, real = batches.items[batches.rows(0)], batches.weight[batches.rows(0)] > 0
        for epoch in range(epochs):
            steps = slice(epoch * per_epoch, (epoch + 1) * per_epoch)
            counts = [int(c) for c in real[steps].sum(dim=1) if c > 0]
            assert counts == sizes
            assert sorted(items[steps][real[steps]].tolist()) == list(range(n))


def test_noise_depends_only_on_the_client_seed(model):
    tower, layout, init, users = model
    batches = _full_batches(len(tower.item_bias), [2, 2], batch=8, seed=4)
    clients_swapped = torch.tensor([2, 3, 0, 1])  # each client's two rows, the other's first
    swapped = replace(
        batches,
        **{f: getattr(batches, f)[clients_swapped] for f in ("items", "labels", "weight")},
        steps=batches.steps.flip(0),
        seeds=batches.seeds.flip(0),
    )
    config = LocalTraining(epochs=1, batch_size=8, lr=0.1, optimizer="sgd")
    trainer = DpSgdTrainer(tower, layout, 1.0, 1.0, True)
    a = trainer.train(init, users[:2], batches, config)
    b = trainer.train(init, users[:2].flip(0), swapped, config)
    torch.testing.assert_close(a.shared, b.shared.flip(0))


class Logs:
    """The part of a Population an accountant reads: the shoppers' training logs."""

    def __init__(self, logs: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        self.logs = logs

    def __len__(self) -> int:
        return len(self.logs)

    def train_log(self, shopper: int) -> tuple[np.ndarray, np.ndarray]:
        return self.logs[shopper]


def _setting(logs, **local) -> AccountingSetting:
    return AccountingSetting(
        population=Logs(logs), local=LocalTraining(**local), clients_per_round=1
    )


@pytest.mark.filterwarnings("ignore:Optimal order:UserWarning")
def test_privacy_per_shopper_known_answers_equal_opacus_without_sampling():
    # Shopper 0: 2 purchases + 1 browsed item + 4 negatives per purchase = 11 examples, cut
    # into batches of 4, 4 and 3 every epoch; E = 2 and 3 rounds: 6 epochs.
    logs = {0: (np.arange(3), np.array([1.0, 1.0, 0.0])), 1: (np.arange(1), np.array([1.0]))}
    setting = _setting(logs, epochs=2, batch_size=4, negatives_per_positive=4)
    accountant = create_defense("dp_sgd(noise_multiplier=1.5, delta=1e-4)").accountant(setting)
    for _ in range(3):
        accountant.step(np.array([0]))
    assert accountant.examples(0) == 11
    # An example: one mechanism of sensitivity C per epoch. The shopper: per epoch, batches of
    # sensitivity k C, i.e. noise multiplier z / k, so 4^2 + 4^2 + 3^2 = 41 per epoch.
    example, shopper = RDPAccountant(), RDPAccountant()
    example.history = [(1.5, 1.0, 6)]
    shopper.history = [(1.5 / 4, 1.0, 2 * 6), (1.5 / 3, 1.0, 6)]
    privacy = accountant.spent()
    assert privacy["epsilon_example"] == pytest.approx(example.get_epsilon(1e-4, ORDERS))
    assert privacy["epsilon_shopper"] == pytest.approx(shopper.get_epsilon(1e-4, ORDERS))
    assert privacy["epsilon_shopper"] == pytest.approx(gaussian_epsilon(1.5, 6 * 41, 1e-4))
    assert privacy["delta"] == 1e-4
    by_shopper, by_example = accountant.epsilons()
    assert by_shopper[1] == by_example[1] == 0, "shopper 1 never took part"
    # Shopper 1: 1 + 4 = 5 examples, batches of 4 and 1; 5 rounds: 10 epochs.
    for _ in range(5):
        accountant.step(np.array([1]))
    by_shopper, by_example = accountant.epsilons()
    assert by_example[1] == pytest.approx(gaussian_epsilon(1.5, 10, 1e-4))
    assert by_shopper[1] == pytest.approx(gaussian_epsilon(1.5, 10 * 17, 1e-4))
    assert accountant.spent()["epsilon_example"] == by_example[1] > privacy["epsilon_example"]


def test_examples_per_round_are_those_local_training_draws():
    items, labels = np.arange(7), np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    setting = _setting({0: (items, labels)}, negatives_per_positive=3)
    accountant = create_defense("dp_sgd(delta=1e-4)").accountant(setting)
    rng = np.random.default_rng(0)
    drawn, _, _ = training_examples(items, labels, 100, setting.local, rng)
    assert accountant.examples(0) == len(drawn) == 7 + 3 * 4


def test_a_shopper_with_no_examples_spends_nothing():
    setting = _setting({0: (np.arange(0), np.zeros(0))}, epochs=3)
    accountant = create_defense("dp_sgd(delta=1e-4)").accountant(setting)
    accountant.step(np.array([0]))
    privacy = accountant.spent()
    assert privacy["epsilon_shopper"] == privacy["epsilon_example"] == 0


def test_more_noise_spends_less_privacy():
    logs = {0: (np.arange(30), np.ones(30))}
    setting = _setting(logs, epochs=1, batch_size=16)
    epsilons = []
    for z in (0.7, 1.0, 2.0):
        accountant = create_defense(f"dp_sgd(noise_multiplier={z}, delta=1e-4)").accountant(setting)
        for _ in range(4):
            accountant.step(np.array([0]))
        privacy = accountant.spent()
        epsilons.append((privacy["epsilon_example"], privacy["epsilon_shopper"]))
    for level in (0, 1):
        assert epsilons[0][level] > epsilons[1][level] > epsilons[2][level] > 0
    assert np.isfinite(epsilons).all()
