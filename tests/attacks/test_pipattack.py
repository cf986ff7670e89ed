"""PipAttack on FedMF and FedNCF: its three-term objective against autograd through the
models' written-out equations, the popularity levels and estimator, the upload's shape, the
options."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn.functional import cross_entropy, logsigmoid

from fedarena.attacks import ATTACKS
from fedarena.attacks.pipattack import PipAttack, popularity_levels
from fedarena.errors import SpecError
from fedarena.factorisation import MatrixFactorisation
from fedarena.model import ItemRows, SharedLayout
from fedarena.ncf import NeuralCF
from fedarena.scenario.run import run_scenario
from tiny import TINY
from written_scores import written_scores

N_ITEMS, DIM, TARGETS = 12, 3, [2, 9]


def _model(name: str = "mf"):
    model = MatrixFactorisation(N_ITEMS, DIM) if name == "mf" else NeuralCF(N_ITEMS, DIM)
    model.reset_parameters(torch.Generator().manual_seed(1))
    return model


def _attack(model, **options) -> PipAttack:
    rows = ItemRows.of(SharedLayout.of(model))
    attack = PipAttack(targets=TARGETS, model=model, item_rows=rows, **options)
    attack.n_items = N_ITEMS
    attack.labelled = np.array([0, 1, 3, 4, 5, 6])  # every known item but the targets
    attack.level = np.array([0, 0, 1, 1, 2, 2])
    return attack


def _params(model) -> torch.Tensor:
    return SharedLayout.of(model).flatten(model).double()


def _own(model, n: int = 2) -> torch.Tensor:
    """Honest updates that touch a few item rows (and FedNCF's layers)."""
    rows = ItemRows.of(SharedLayout.of(model))
    own = torch.zeros(n, len(_params(model)))
    own[:, rows.index[[0, 2, 7]].reshape(-1)] = 0.05
    own[:, rows.dense] = 0.01
    return own


def test_popularity_levels_cut_the_ranking_into_equal_groups():
    counts = np.array([5, 1, 3, 3, 0, 9])
    assert popularity_levels(counts, 3).tolist() == [2, 0, 1, 1, 0, 2]
    assert popularity_levels(counts, 2).tolist() == [1, 0, 0, 1, 0, 1]


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_loss_gradient_is_that_of_the_paper_terms(name):
    model = _model(name)
    attack, params = _attack(model, alpha=0.7), _params(model)
    attack.fit_estimator(params[attack.columns()], torch.Generator().manual_seed(2))
    attack.user = torch.randn(DIM, generator=torch.Generator().manual_seed(3)).double()
    rows = ItemRows.of(SharedLayout.of(model))
    free = torch.cat([torch.from_numpy(rows.index[TARGETS]).reshape(-1), torch.tensor(rows.dense)])
    values = params[free] + 0.1
    leaf = values.clone().requires_grad_(True)
    theta = params.index_put((free,), leaf)
    explicit = -logsigmoid(written_scores(model, theta, attack.user[None], TARGETS)).mean()
    w1, b1, w2, b2 = (p.detach() for p in attack.estimator)
    target_rows = theta[torch.from_numpy(rows.index[TARGETS])]
    logits = torch.relu(target_rows @ w1.T + b1) @ w2.T + b2
    popular = cross_entropy(logits, torch.full((len(TARGETS),), 2))
    (expected,) = torch.autograd.grad(explicit + 0.7 * popular, leaf)
    got = attack.loss_gradient(params, free, values, len(TARGETS))
    torch.testing.assert_close(got, expected)


def test_descent_is_on_the_distance_constrained_objective():
    attack = PipAttack(targets=[0], lr=0.1, gamma=2.0)
    update, honest, gradient = (torch.tensor([v]).double() for v in (0.5, 0.2, -0.3))
    # dJ/dD = gradient + 2 gamma (D - D_m) = -0.3 + 1.2 = 0.9
    torch.testing.assert_close(attack.descend(update, honest, gradient), update - 0.09)


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_upload_is_the_honest_update_outside_the_targets_and_layers(name):
    model = _model(name)
    attack, params, own = _attack(model), _params(model), _own(model)
    uploads = attack.craft_updates(params, own, torch.Generator().manual_seed(4))
    rows = ItemRows.of(SharedLayout.of(model))
    others = [i for i in range(N_ITEMS) if i not in TARGETS]
    torch.testing.assert_close(uploads[:, rows.index[others]], own[:, rows.index[others]])
    assert not torch.equal(uploads[:, rows.index[TARGETS]], own[:, rows.index[TARGETS]])


def test_no_steps_sends_the_honest_update_and_a_large_gamma_stays_near_it():
    model = _model()
    params, own = _params(model), _own(model)
    none = _attack(model, steps=0).craft_updates(params, own, torch.Generator().manual_seed(5))
    torch.testing.assert_close(none, own)
    loose = _attack(model).craft_updates(params, own, torch.Generator().manual_seed(5))
    tight = _attack(model, gamma=4.0).craft_updates(params, own, torch.Generator().manual_seed(5))
    assert (tight - own).norm() < (loose - own).norm()


def _crafted(name: str, **options):
    """A model, an attack with a trained estimator, the honest update of one fake user and
    the upload it crafts from it."""
    model = _model(name)
    attack = _attack(model, gamma=0.1, estimator_steps=200, estimator_lr=0.05, **options)
    params, own = _params(model), _own(model, 1)
    upload = attack.craft_updates(params, own, torch.Generator().manual_seed(6))[0].double()
    return model, attack, params + own[0].double(), params + upload


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_popularity_enhancement_makes_the_targets_look_popular(name):
    model, attack, honest, poisoned = _crafted(name, alpha=5.0)
    rows = torch.from_numpy(ItemRows.of(SharedLayout.of(model)).index[TARGETS])
    with torch.no_grad():
        popular = [
            torch.softmax(attack.estimate(t[rows]), 1)[:, 2].mean() for t in (honest, poisoned)
        ]
    assert popular[1] > popular[0]


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_explicit_promotion_makes_the_coalition_user_like_the_targets(name):
    model, attack, honest, poisoned = _crafted(name, alpha=0.0)
    user = attack.user[None]
    with torch.no_grad():
        liked = [written_scores(model, t, user, TARGETS).mean() for t in (honest, poisoned)]
    assert liked[1] > liked[0]


def test_estimator_learns_separable_levels():
    model = _model()
    attack = _attack(model, estimator_steps=300, estimator_lr=0.05)
    items = torch.zeros(N_ITEMS, DIM).double()
    items[attack.labelled, 0] = torch.tensor(attack.level).double() * 2.0 - 2.0
    attack.fit_estimator(items, torch.Generator().manual_seed(7))
    with torch.no_grad():
        guessed = attack.estimate(items[attack.labelled]).argmax(dim=1)
    assert guessed.tolist() == attack.level.tolist()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("pipattack(alpha=-1)", "alpha must be >= 0"),
        ("pipattack(gamma=-0.5)", "gamma must be >= 0"),
        ("pipattack(steps=-1)", "steps must be an integer >= 0"),
        ("pipattack(lr=0)", "lr must be > 0"),
        ("pipattack(levels=1)", "levels must be an integer >= 2"),
        ("pipattack(known=0)", "known must be > 0"),
        ("pipattack(known=1.5)", r"known must be in \(0, 1\]"),
        ("pipattack(row_norm=1)", "row_norm"),
    ],
)
def test_bad_options_are_one_line_errors(spec, message):
    with pytest.raises((ValueError, SpecError, TypeError), match=message):
        ATTACKS.create(spec, seed=0)


@pytest.mark.parametrize("model", ["mf", "ncf"])
def test_fake_users_run_in_a_federation(model):
    scenario = replace(TINY, model=model, attack="pipattack", malicious_fraction=0.05)
    result = run_scenario(scenario)
    assert result["population"]["malicious"] >= 1
    assert result["attack"]["knowledge"] == "public"
    assert 0.0 <= result["final"]["er@10"] <= 1.0
