"""A-ra / A-hum on FedMF and FedNCF: the attack loss and mining against autograd through the
module, the upload's bounds, the options."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from fedarena.attacks import ATTACKS
from fedarena.attacks.hard_users import HardUserMining, RandomApproximation
from fedarena.attacks.item_rows import bounded_rows
from fedarena.errors import SpecError
from fedarena.factorisation import MatrixFactorisation
from fedarena.model import ItemRows, SharedLayout
from fedarena.ncf import NeuralCF
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from tiny import TINY
from written_scores import written_scores

N_ITEMS, DIM, TARGETS = 12, 3, [2, 9]


def _model(name: str = "mf"):
    model = MatrixFactorisation(N_ITEMS, DIM) if name == "mf" else NeuralCF(N_ITEMS, DIM)
    model.reset_parameters(torch.Generator().manual_seed(1))
    return model


def _params(model) -> torch.Tensor:
    return SharedLayout.of(model).flatten(model).double()


def _users(n: int = 5) -> torch.Tensor:
    return torch.randn(n, DIM, generator=torch.Generator().manual_seed(2)).double()


def _attack(cls=HardUserMining, model=None, **options):
    model = _model() if model is None else model
    rows = ItemRows.of(SharedLayout.of(model))
    attack = cls(targets=TARGETS, model=model, item_rows=rows, **options)
    attack.n_items = N_ITEMS
    return attack


def _scores(model, params: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
    return written_scores(model, params, users, TARGETS)


def test_fedmf_attack_gradient_is_the_paper_closed_form():
    model = _model()
    params, users = _params(model), _users()
    items = params.reshape(N_ITEMS, DIM)
    missing = 1 - torch.sigmoid(users @ items[TARGETS].T)
    expected = torch.zeros_like(items)
    expected[TARGETS] = -(missing.T @ users) / (len(users) * len(TARGETS))
    gradient = _attack(model=model).attack_gradient(params, users)
    torch.testing.assert_close(gradient, expected.reshape(-1))


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_attack_gradient_is_the_gradient_of_the_paper_loss(name):
    model = _model(name)
    params, users = _params(model), _users()
    leaf = params.clone().requires_grad_(True)
    scores = _scores(model, leaf, users)
    loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(scores), torch.ones_like(scores))
    (expected,) = torch.autograd.grad(loss, leaf)
    torch.testing.assert_close(_attack(model=model).attack_gradient(params, users), expected)


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_mining_is_gradient_descent_on_disliking_the_targets(name):
    model = _model(name)
    attack, params, users = (
        _attack(model=model, mining_steps=3, mining_lr=0.5),
        _params(model),
        _users(),
    )
    expected = users.clone()
    for _ in range(3):
        leaf = expected.clone().requires_grad_(True)
        scores = _scores(model, params, leaf)
        loss = torch.nn.functional.binary_cross_entropy(
            torch.sigmoid(scores), torch.zeros_like(scores), reduction="none"
        ).mean(dim=1)
        loss.sum().backward()
        expected = expected - 0.5 * leaf.grad
    mined = attack.mine(params, users)
    torch.testing.assert_close(mined, expected)
    with torch.no_grad():
        liking = torch.sigmoid(_scores(model, params, mined)).mean()
        assert liking < torch.sigmoid(_scores(model, params, users)).mean()


def test_fedmf_upload_moves_only_the_target_rows_by_the_bound():
    model = _model()
    attack, params = _attack(model=model, row_norm=0.2), _params(model)
    uploads = attack.craft_updates(params, torch.zeros(2, len(params)), torch.Generator())
    norms = uploads.double().reshape(2, N_ITEMS, DIM).norm(dim=-1)
    assert set(norms.nonzero()[:, 1].tolist()) == set(TARGETS)
    torch.testing.assert_close(norms[:, TARGETS], torch.full((2, 2), 0.2, dtype=torch.float64))


def test_fedncf_upload_moves_the_target_rows_and_the_layers_by_honest_norms():
    model = _model("ncf")
    attack, params = _attack(model=model), _params(model)
    rows = ItemRows.of(SharedLayout.of(model))
    own = torch.zeros(2, len(params))
    own[0, rows.index[5]] = 3.0  # an honest row of norm 3 * sqrt(DIM)
    own[1, rows.dense] = torch.linspace(-1, 1, len(rows.dense))
    uploads = attack.craft_updates(params, own, torch.Generator().manual_seed(3)).double()
    row_norms = uploads[:, rows.index].norm(dim=-1)
    assert set(row_norms.nonzero()[:, 1].tolist()) == set(TARGETS)
    torch.testing.assert_close(row_norms[:, TARGETS], torch.full((2, 2), 3.0 * DIM**0.5).double())
    layer_norms = uploads[:, rows.dense].norm(dim=1)
    torch.testing.assert_close(layer_norms, own[1, rows.dense].double().norm().expand(2))


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_one_upload_lowers_the_paper_loss_for_its_made_up_users(name):
    model = _model(name)
    attack, params = _attack(model=model, mining_steps=5, mining_lr=0.5), _params(model)
    drawn = torch.randn(attack.users, DIM, generator=torch.Generator().manual_seed(4)).double()
    users = attack.mine(params, attack.user_std * drawn)  # the users the upload is made for
    own = torch.full((1, len(params)), 0.01)
    upload = attack.craft_updates(params, own, torch.Generator().manual_seed(4))[0].double()
    with torch.no_grad():
        before = -torch.nn.functional.logsigmoid(_scores(model, params, users)).mean()
        after = -torch.nn.functional.logsigmoid(_scores(model, params + upload, users)).mean()
    assert after < before


def test_a_ra_is_a_hum_without_mining():
    model = _model()
    params = _params(model)
    own = torch.ones(1, len(params))
    ra = _attack(RandomApproximation, model).craft_updates(
        params, own, torch.Generator().manual_seed(5)
    )
    hum = _attack(model=model, mining_steps=0).craft_updates(
        params, own, torch.Generator().manual_seed(5)
    )
    mined = _attack(model=model).craft_updates(params, own, torch.Generator().manual_seed(5))
    torch.testing.assert_close(ra, hum)
    assert not torch.equal(ra, mined)
    rows = ra.reshape(N_ITEMS, DIM).norm(dim=-1)[TARGETS]
    torch.testing.assert_close(rows, torch.full((2,), DIM**0.5))  # auto: the honest row


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


def test_it_needs_fedmf_or_fedncf():
    with pytest.raises(SpecError, match="attack a_hum needs model mf or ncf, got model tower"):
        build_world(replace(TINY, attack="a_hum", malicious_fraction=0.1))


@pytest.mark.parametrize("model", ["mf", "ncf"])
@pytest.mark.parametrize("name", ["a_ra", "a_hum"])
def test_one_fake_user_runs_in_a_federation(name, model):
    scenario = replace(TINY, model=model, attack=name, malicious_fraction=0.01)
    result = run_scenario(scenario)
    assert result["population"]["malicious"] == 1
    assert result["attack"]["knowledge"] == "own"
    assert 0.0 <= result["final"]["er@10"] <= 1.0
