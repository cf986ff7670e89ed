"""FedRecAttack: the attack loss's gradient, the upload's item limit and bound, enrolment."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedarena.attacks import ATTACKS
from fedarena.attacks.fedrecattack import TOP_K, FedRecAttack
from fedarena.attacks.item_rows import honest_row_norm
from fedarena.errors import SpecError
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from tiny import TINY

N_ITEMS, DIM = 40, 4


def _attack(**options) -> FedRecAttack:
    attack = FedRecAttack(targets=[3, 7], seed=0, **options)
    attack.n_items = N_ITEMS
    attack.targets.choose(None, N_ITEMS)  # given targets: nothing is drawn
    g = torch.Generator().manual_seed(0)
    attack.public = [np.array([0, 1, 7]), np.array([2, 5]), np.array([9, 11, 12])]
    attack.users = torch.randn(3, DIM, generator=g, dtype=torch.float64)
    return attack


def _items(seed=1) -> torch.Tensor:
    return torch.randn(N_ITEMS, DIM, generator=torch.Generator().manual_seed(seed)).double()


def test_attack_gradient_is_the_gradient_of_the_paper_loss():
    attack, items = _attack(), _items()
    users = attack.users
    leaf = items.clone().requires_grad_(True)
    loss = torch.zeros((), dtype=torch.float64)
    for u, public in enumerate(attack.public):
        scores = (users[u] @ items.T).clone()
        scores[[3, 7]] = -torch.inf
        scores[public] = -torch.inf
        kth = int(scores.topk(TOP_K).indices[-1])  # the K-th best item neither public nor target
        for t in (3, 7):
            if t in public:
                continue  # user 0 already interacted with target 7
            x = users[u] @ (leaf[kth] - leaf[t])
            loss = loss + (x if x >= 0 else torch.expm1(x))
    loss.backward()
    torch.testing.assert_close(attack.attack_gradient(items), leaf.grad)


def test_upload_sends_the_targets_and_at_most_kappa_rows_at_the_bound():
    attack, items = _attack(kappa=5), _items()
    gradient = attack.attack_gradient(items)
    update = attack.upload(
        gradient, gradient.norm(dim=1), 0.3, torch.Generator().manual_seed(4)
    ).double()
    norms = update.norm(dim=1)
    sent = norms.nonzero().flatten()
    assert {3, 7} <= set(sent.tolist()) and len(sent) <= 5
    torch.testing.assert_close(norms[sent], torch.full((len(sent),), 0.3, dtype=torch.float64))
    direction = -gradient[sent] / gradient[sent].norm(dim=1, keepdim=True)
    torch.testing.assert_close(update[sent] / 0.3, direction, rtol=1e-5, atol=1e-6)
    assert (gradient.norm(dim=1)[sent] > 0).all()  # fillers are drawn among rows it moves


def test_the_honest_row_norm_is_the_largest_row_the_fakes_sent():
    own = torch.zeros(2, 5, 3)
    own[0, 1] = torch.tensor([3.0, 4.0, 0.0])
    own[1, 4] = torch.tensor([0.0, 1.0, 0.0])
    assert honest_row_norm(own) == 5.0
    assert honest_row_norm(torch.zeros(1, 5, 3)) == 0.0


def test_enrolment_makes_kappa_item_profiles_and_a_public_share(population, catalog):
    attack = ATTACKS.create("fedrecattack(kappa=12, xi=0.2)", seed=0, catalog=catalog)
    enrolled, ids = attack.enrol(population, catalog, 5, np.random.default_rng(0))
    assert len(ids) == 5 and len(enrolled) == len(population) + 5
    for fake in ids:
        items, labels = enrolled.train_log(int(fake))
        assert len(items) == 12 and set(attack.target_items) <= set(items.tolist())
        assert (labels == 1).all()
    public = sum(len(p) for p in attack.public)
    bought = int((population.train_labels > 0.5).sum())
    assert 0.15 * bought < public < 0.25 * bought


@pytest.mark.parametrize(
    "spec, message",
    [
        ("fedrecattack(xi=0)", "xi must be in"),
        ("fedrecattack(kappa=0)", "kappa must be an integer >= 1"),
        ("fedrecattack(row_norm=-1)", "row_norm must be 'auto' or a number > 0"),
    ],
)
def test_bad_options_are_one_line_errors(spec, message):
    with pytest.raises((ValueError, SpecError), match=message):
        ATTACKS.create(spec, seed=0)


def test_it_needs_fedmf():
    with pytest.raises(SpecError, match="attack fedrecattack needs model mf, got model tower"):
        build_world(replace(TINY, attack="fedrecattack", malicious_fraction=0.1))


def test_one_upload_lifts_the_targets_for_the_approximated_users():
    attack, items = _attack(kappa=6), _items()
    gradient = attack.attack_gradient(items)
    update = attack.upload(
        gradient, gradient.norm(dim=1), 0.05, torch.Generator().manual_seed(2)
    ).double()
    assert _paper_loss(attack, items + update) < _paper_loss(attack, items)


def _paper_loss(attack: FedRecAttack, items: torch.Tensor) -> float:
    total = 0.0
    for u, public in enumerate(attack.public):
        scores = attack.users[u] @ items.T
        masked = scores.clone()
        masked[[3, 7]] = -torch.inf
        masked[public] = -torch.inf
        kth = masked.topk(TOP_K).indices[-1]
        for t in (3, 7):
            if t not in public:
                g, _ = FedRecAttack.surrogate(scores[kth] - scores[t])
                total += float(g)
    return total


def test_it_runs_on_fedmf_in_a_federation():
    scenario = replace(TINY, model="mf", attack="fedrecattack(xi=0.2)", malicious_fraction=0.1)
    result = run_scenario(scenario)
    assert result["attack"]["knowledge"] == "public"
    assert 0.0 <= result["final"]["er@10"] <= 1.0
    assert sum(r["n_malicious_sampled"] for r in result["rounds"]) > 0
