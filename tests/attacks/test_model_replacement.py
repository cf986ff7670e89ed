"""Model replacement: targets added as purchases, update boosted by n / (m eta), norm bound."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.attacks import ATTACKS
from fedarena.attacks.model_replacement import ModelReplacement
from fedarena.errors import SpecError


def test_auto_gamma_is_n_over_attackers_times_server_gain(ctx):
    updates = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    malicious = torch.tensor([True, False, True])
    sent = ModelReplacement(targets=[0]).craft(
        updates, malicious, ctx(updates, malicious, n_clients=10, server_gain=0.5)
    )
    assert sent[0].tolist() == [10.0, 20.0]  # gamma = 10 / (2 x 0.5)
    assert sent[2].tolist() == [50.0, 60.0]
    assert sent[1].tolist() == [3.0, 4.0]


@pytest.mark.parametrize("m", [1, 2, 5])
def test_coordinated_attackers_replace_the_model_once(ctx, m):
    # Bagdasaryan et al.'s multi-attacker form: with the benign updates cancelling, the
    # FedAvg step lands on the attackers' model L whatever their number m, not on m (L - G).
    n, eta = 10, 0.5
    global_params = torch.tensor([1.0, -1.0, 2.0])
    local = torch.tensor([4.0, 0.0, -3.0])
    generator = torch.Generator().manual_seed(m)
    benign = torch.randn(n - m, 3, generator=generator)
    benign -= benign.mean(dim=0)
    updates = torch.cat([(local - global_params).expand(m, 3), benign])
    malicious = torch.arange(n) < m
    sent = torch.stack(
        ModelReplacement(targets=[0]).craft(
            updates, malicious, ctx(updates, malicious, n_clients=n, server_gain=eta)
        )
    )
    assert torch.allclose(global_params + eta * sent.mean(dim=0), local, atol=1e-5)


def test_stealth_trains_with_the_anomaly_term_and_needs_a_bound():
    from fedarena.training.local import LocalTraining

    attack = ModelReplacement(targets=[0], constrain_and_scale=2.0, stealth=True)
    local = attack.local_training(LocalTraining(prox_mu=0.01))
    assert local.prox_mu == pytest.approx(0.01 + 0.3 / 0.7)  # (1 - alpha) / alpha beside FedProx's
    assert ModelReplacement(targets=[0]).local_training(LocalTraining()) == LocalTraining()
    with pytest.raises(ValueError, match="stealth=true needs the norm bound"):
        ModelReplacement(targets=[0], stealth=True)


def test_explicit_gamma(ctx):
    updates = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    malicious = torch.tensor([True, True])
    sent = ModelReplacement(targets=[0], gamma=3).craft(updates, malicious, ctx(updates, malicious))
    assert torch.stack(sent).tolist() == [[3.0, -6.0], [9.0, 12.0]]


def test_constrain_and_scale_boosts_each_update_up_to_the_bound(ctx):
    # norms 5 and 0.5, gamma = 20: boosts min(20, 5/5) = 1 and min(20, 5/0.5) = 10.
    updates = torch.tensor([[3.0, 4.0], [0.3, 0.4], [1.0, 1.0]])
    malicious = torch.tensor([True, True, False])
    attack = ModelReplacement(targets=[0], constrain_and_scale=5.0)
    sent = attack.craft(updates, malicious, ctx(updates, malicious, n_clients=20))
    assert torch.allclose(torch.stack(sent[:2]), torch.tensor([[3.0, 4.0], [3.0, 4.0]]))
    assert sent[2].tolist() == [1.0, 1.0]


def test_sent_norm_is_min_of_boosted_norm_and_bound(ctx):
    generator = torch.Generator().manual_seed(0)
    updates = torch.randn(12, 30, generator=generator) * torch.rand(12, 1, generator=generator)
    malicious = torch.arange(12) % 2 == 0
    attack = ModelReplacement(targets=[0], constrain_and_scale=2.0)
    sent = torch.stack(attack.craft(updates, malicious, ctx(updates, malicious, n_clients=12)))
    expected = torch.minimum(2 * updates.norm(dim=1), torch.tensor(2.0))  # gamma = 12 / 6
    assert torch.allclose(sent[malicious].norm(dim=1), expected[malicious], rtol=1e-5)
    assert torch.equal(sent[~malicious], updates[~malicious])


def test_one_attacker_replaces_the_global_model_when_benign_updates_cancel(ctx):
    # The paper's claim: G + eta/n * sum_i (X_i - G) = L when the benign updates sum to 0.
    n, eta = 5, 0.5
    global_params = torch.tensor([1.0, -1.0, 2.0])
    local = torch.tensor([4.0, 0.0, -3.0])
    benign = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 0.5], [0.5, -1.0, -2.0], [-0.5, -1.0, 1.0]])
    updates = torch.cat([(local - global_params)[None], benign])
    malicious = torch.tensor([True, False, False, False, False])
    sent = torch.stack(
        ModelReplacement(targets=[0]).craft(
            updates, malicious, ctx(updates, malicious, n_clients=n, server_gain=eta)
        )
    )
    assert torch.allclose(global_params + eta * sent.mean(dim=0), local)


def test_poison_adds_each_target_once_as_a_purchase():
    attack = ModelReplacement(targets=[7, 11])
    items, labels = attack.poison(
        np.array([5, 7, 9]), np.array([1, 0, 0], dtype=np.float32), 20, np.random.default_rng(0)
    )
    assert items.tolist() == [5, 9, 7, 11]
    assert labels.tolist() == [1, 0, 1, 1]


def test_declarations_and_explicit_targets():
    attack = ATTACKS.create("model_replacement(targets=[4, 2])")
    assert attack.acts_on == {"data", "update"}
    assert (attack.knowledge, attack.goal) == ("own", "targeted")
    assert attack.target_items.tolist() == [2, 4]


@pytest.mark.parametrize(
    "options, message",
    [
        ("gamma=0", "gamma must be 'auto' or a number > 0"),
        ("gamma=big", "gamma must be 'auto' or a number > 0"),
        ("constrain_and_scale=-1", "constrain_and_scale must be a norm bound > 0"),
        ("targets=[1, 1]", "distinct"),
        ("targets=[1], n_targets=2", "not both"),
    ],
)
def test_bad_options_are_one_sentence_errors(options, message):
    with pytest.raises(SpecError, match=message):
        ATTACKS.create(f"model_replacement({options})")


def test_targets_beyond_the_catalog_are_refused(catalog):
    with pytest.raises(SpecError, match=r"targets must be item indices in \[0, 400\)"):
        ATTACKS.create("model_replacement(targets=[400])", catalog=catalog)
