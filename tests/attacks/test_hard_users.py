"""A-ra / A-hum: the paper's attack loss and mining against autograd, the upload, the options."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from fedarena.attacks import ATTACKS
from fedarena.attacks.hard_users import HardUserMining, RandomApproximation
from fedarena.attacks.item_rows import bounded_rows
from fedarena.errors import SpecError
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from tiny import TINY

N_ITEMS, DIM, TARGETS = 12, 3, [2, 9]


def _items() -> torch.Tensor:
    return torch.randn(N_ITEMS, DIM, generator=torch.Generator().manual_seed(1)).double()


def _users(n: int = 5) -> torch.Tensor:
    return torch.randn(n, DIM, generator=torch.Generator().manual_seed(2)).double()


def _attack(cls=HardUserMining, **options):
    attack = cls(targets=TARGETS, **options)
    attack.n_items = N_ITEMS
    return attack


def test_attack_gradient_is_the_gradient_of_the_paper_loss():
    items, users = _items(), _users()
    leaf = items.clone().requires_grad_(True)
    scores = users @ leaf[TARGETS].T
    loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(scores), torch.ones_like(scores))
    loss.backward()
    torch.testing.assert_close(_attack().attack_gradient(items, users), leaf.grad[TARGETS])


def test_mining_is_gradient_descent_on_disliking_the_targets():
    attack, items, users = _attack(mining_steps=3, mining_lr=0.5), _items(), _users()
    expected = users.clone()
    for _ in range(3):
        leaf = expected.clone().requires_grad_(True)
        scores = leaf @ items[TARGETS].T
        loss = torch.nn.functional.binary_cross_entropy(
            torch.sigmoid(scores), torch.zeros_like(scores), reduction="none"
        ).mean(dim=1)
        loss.sum().backward()
        expected = expected - 0.5 * leaf.grad
    mined = attack.mine(items, users)
    torch.testing.assert_close(mined, expected)
    liking = torch.sigmoid(mined @ items[TARGETS].T).mean()
    assert liking < torch.sigmoid(users @ items[TARGETS].T).mean()


def test_upload_moves_only_the_target_rows_by_the_bound():
    attack, items = _attack(row_norm=0.2), _items()
    own = torch.zeros(2, N_ITEMS, DIM)
    uploads = attack.craft_rows(items, own, torch.Generator().manual_seed(3)).double()
    assert uploads.shape == (2, N_ITEMS, DIM)
    norms = uploads.norm(dim=-1)
    assert set(norms.nonzero()[:, 1].tolist()) == set(TARGETS)
    torch.testing.assert_close(norms[:, TARGETS], torch.full((2, 2), 0.2, dtype=torch.float64))


def test_one_upload_lowers_the_paper_loss_for_its_made_up_users():
    attack, items = _attack(mining_steps=5, mining_lr=0.5), _items()
    users = attack.mine(items, _users())
    gradient = torch.zeros_like(items)
    gradient[TARGETS] = attack.attack_gradient(items, users)
    upload = bounded_rows(gradient, torch.tensor(TARGETS), 0.1).double()

    def loss(v: torch.Tensor) -> float:
        return float(-torch.nn.functional.logsigmoid(users @ v[TARGETS].T).mean())

    assert loss(items + upload) < loss(items)


def test_a_ra_is_a_hum_without_mining():
    items, own = _items(), torch.ones(1, N_ITEMS, DIM)
    ra = _attack(RandomApproximation).craft_rows(items, own, torch.Generator().manual_seed(5))
    hum = _attack(mining_steps=0).craft_rows(items, own, torch.Generator().manual_seed(5))
    mined = _attack().craft_rows(items, own, torch.Generator().manual_seed(5))
    torch.testing.assert_close(ra, hum)
    assert not torch.equal(ra, mined)
    torch.testing.assert_close(ra.norm(dim=-1)[0, TARGETS], torch.full((2,), 3**0.5))  # auto


def test_bounded_rows_leaves_rows_with_no_gradient_alone():
    gradient = torch.zeros(4, 2, dtype=torch.float64)
    gradient[1] = torch.tensor([3.0, 4.0])
    update = bounded_rows(gradient, torch.tensor([1, 2]), 2.0)
    assert update.dtype == torch.float32
    torch.testing.assert_close(update[1], torch.tensor([-1.2, -1.6]))
    assert not update[[0, 2, 3]].any()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("a_hum(users=0)", "users must be an integer >= 1"),
        ("a_hum(mining_steps=-1)", "mining_steps must be an integer >= 0"),
        ("a_hum(mining_lr=0)", "mining_lr must be > 0"),
        ("a_ra(user_std=0)", "user_std must be > 0"),
        ("a_ra(mining_steps=3)", "mining_steps"),
        ("a_ra(row_norm=0)", "row_norm must be 'auto' or a number > 0"),
    ],
)
def test_bad_options_are_one_line_errors(spec, message):
    with pytest.raises((ValueError, SpecError, TypeError), match=message):
        ATTACKS.create(spec, seed=0)


def test_it_needs_fedmf():
    with pytest.raises(SpecError, match="attack a_hum needs model mf, got model tower"):
        build_world(replace(TINY, attack="a_hum", malicious_fraction=0.1))


@pytest.mark.parametrize("name", ["a_ra", "a_hum"])
def test_one_fake_user_runs_in_a_federation(name):
    scenario = replace(TINY, model="mf", attack=name, malicious_fraction=0.01)
    result = run_scenario(scenario)
    assert result["population"]["malicious"] == 1
    assert result["attack"]["knowledge"] == "own"
    assert 0.0 <= result["final"]["er@10"] <= 1.0
