"""DP-SGD: clipped per-example gradients equal Opacus's, noise of the stated scale, accounting."""

from __future__ import annotations

import math
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
from fedarena.defenses.dp_sgd import local_steps
from fedarena.defenses.privacy import ORDERS
from fedarena.training.dp_sgd import DpSgdTrainer, PerExampleClipping
from fedarena.training.local import LocalBatches, LocalTraining, build_batches
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
            self.register_parameter(name, nn.Parameter(value.detach().clone()))
        self.user = nn.Parameter(user.clone(), requires_grad=train_user)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        params = {name: getattr(self, name) for name in self.names}
        users = self.user.expand(len(items), -1)
        scores = functional_call(self._tower[0], params | self._fixed, (users, items[:, None]))
        return scores[:, 0]


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
def test_clipped_per_example_gradients_equal_opacus(model, max_grad_norm, user_embedding):
    tower, layout, init, users = model
    items, labels, weight = _batch(len(tower.item_bias), 16, seed=1)

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
            ours.shared[name][0], getattr(reference, name).grad, atol=1e-6, rtol=1e-5
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
    n, n_steps = len(steps_per_client), max(steps_per_client)
    items = torch.randint(0, n_items, (n, n_steps, batch), generator=g)
    labels = (torch.rand(n, n_steps, batch, generator=g) < 0.3).float()
    active = torch.arange(n_steps)[None, :] < torch.tensor(steps_per_client)[:, None]
    weight = active[:, :, None].float().expand(-1, -1, batch).contiguous()
    return LocalBatches(items, labels, weight, active, seeds=torch.arange(n))


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
    "n, b, epochs", [(10, 4, 2), (3, 8, 3), (100, 64, 3), (64, 64, 1), (7, 5, 4)]
)
def test_local_steps_match_the_engine_and_no_batch_repeats_an_example(n, b, epochs):
    config = LocalTraining(epochs=epochs, batch_size=b)
    data = [(np.arange(n), np.ones(n, dtype=np.float32), np.ones(n, dtype=np.float32))]
    for seed in range(50):
        batches = build_batches(data, config, [np.random.default_rng(seed)])
        steps = int(batches.active[0].sum())
        assert steps == local_steps(n, b, epochs)
        for t in range(steps):
            real = batches.items[0, t][batches.weight[0, t] > 0]
            assert int(torch.bincount(real).max()) == 1


def test_noise_depends_only_on_the_client_seed(model):
    tower, layout, init, users = model
    batches = _full_batches(len(tower.item_bias), [2, 2], batch=8, seed=4)
    swapped = replace(
        batches,
        **{
            f: getattr(batches, f).flip(0) for f in ("items", "labels", "weight", "active", "seeds")
        },
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


def test_privacy_per_shopper_from_the_rdp_accountant():
    # Shopper 0: 2 purchases + 1 browsed item + 4 negatives per purchase = 11 examples;
    # b = 4, E = 2: 2 ceil(11 / 4) = 6 steps per round, an example at most once per batch.
    logs = {0: (np.arange(3), np.array([1.0, 1.0, 0.0])), 1: (np.arange(1), np.array([1.0]))}
    setting = AccountingSetting(
        population=Logs(logs),
        local=LocalTraining(epochs=2, batch_size=4, negatives_per_positive=4),
        clients_per_round=1,
    )
    accountant = create_defense("dp_sgd(noise_multiplier=1.5, delta=1e-4)").accountant(setting)
    for _ in range(3):
        accountant.step(np.array([0]))
    reference = RDPAccountant()
    reference.history = [(1.5, 4 / 11, 6 * 3)]
    privacy = accountant.spent()
    assert privacy["epsilon"] == pytest.approx(reference.get_epsilon(delta=1e-4, alphas=ORDERS))
    assert privacy["delta"] == 1e-4
    for _ in range(5):
        accountant.step(np.array([1]))
    assert accountant.spent()["epsilon"] > privacy["epsilon"]


def test_more_noise_spends_less_privacy():
    logs = {0: (np.arange(30), np.ones(30))}
    setting = AccountingSetting(
        population=Logs(logs), local=LocalTraining(epochs=1, batch_size=16), clients_per_round=1
    )
    epsilons = []
    for z in (0.7, 1.0, 2.0):
        accountant = create_defense(f"dp_sgd(noise_multiplier={z})").accountant(setting)
        for _ in range(4):
            accountant.step(np.array([0]))
        epsilons.append(accountant.spent()["epsilon"])
    assert epsilons[0] > epsilons[1] > epsilons[2] > 0
    assert all(math.isfinite(e) for e in epsilons)
