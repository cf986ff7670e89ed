"""ALIE: z from n and f as in Baruch et al. 2019, mu - z sigma of the reference updates."""

from __future__ import annotations

import math

import pytest
import torch

from fedarena.attacks import ATTACKS
from fedarena.attacks.alie import ALittleIsEnough, alie_z
from fedarena.errors import SpecError


@pytest.mark.parametrize(
    "n, f, s",
    [(10, 2, 4), (50, 5, 21), (50, 12, 14), (51, 5, 21), (7, 1, 3)],
)
def test_z_is_the_normal_quantile_of_n_minus_s_over_n(n, f, s):
    stats = pytest.importorskip("scipy.stats")
    assert math.floor(n / 2 + 1) - f == s
    assert alie_z(n, f) == pytest.approx(stats.norm.ppf((n - s) / n), abs=1e-9)


def test_z_known_values():
    assert alie_z(10, 2) == pytest.approx(0.2533471, abs=1e-6)  # Phi^-1(0.6)
    assert alie_z(50, 12) == pytest.approx(0.5828415, abs=1e-6)  # Phi^-1(0.72)


def test_crafted_update_is_mean_minus_z_std(ctx):
    updates = torch.tensor([[9.0, 9.0], [0.0, 0.0], [2.0, 4.0]])
    malicious = torch.tensor([True, False, False])
    attack = ALittleIsEnough(knowledge="omniscient", n_clients=10, n_malicious=2)
    sent = attack.craft(updates, malicious, ctx(updates, malicious))
    z = alie_z(10, 2)
    expected = torch.tensor([1.0, 2.0]) - z * torch.tensor([math.sqrt(2), 2 * math.sqrt(2)])
    assert torch.allclose(sent[0], expected)
    assert torch.equal(torch.stack(sent[1:]), updates[1:])


def test_own_knowledge_estimates_from_the_malicious_clients(ctx):
    updates = torch.tensor([[0.0, 2.0], [100.0, 100.0], [2.0, 2.0]])
    malicious = torch.tensor([True, False, True])
    sent = ALittleIsEnough(z=1.0).craft(updates, malicious, ctx(updates, malicious))
    expected = torch.tensor([1.0 - math.sqrt(2), 2.0])
    assert torch.allclose(sent[0], expected) and torch.allclose(sent[2], expected)


def test_a_single_own_update_has_no_spread_and_is_sent_as_is(ctx):
    updates = torch.tensor([[1.0, 2.0], [5.0, 5.0]])
    malicious = torch.tensor([True, False])
    sent = ALittleIsEnough(z=3.0).craft(updates, malicious, ctx(updates, malicious))
    assert sent[0].tolist() == [1.0, 2.0]


def test_crafted_update_does_not_depend_on_the_order_of_benign_updates(ctx):
    generator = torch.Generator().manual_seed(0)
    updates = torch.randn(8, 6, generator=generator)
    malicious = torch.tensor([True, True] + [False] * 6)
    attack = ALittleIsEnough(z=1.2, knowledge="omniscient")
    perm = torch.cat([torch.arange(2), 2 + torch.randperm(6, generator=generator)])
    a = attack.craft(updates, malicious, ctx(updates, malicious))[0]
    b = attack.craft(updates[perm], malicious, ctx(updates[perm], malicious))[0]
    assert torch.allclose(a, b, atol=1e-6)


def test_scenario_context_sets_z():
    attack = ATTACKS.create("alie", n_clients=50, n_malicious=5)
    assert attack.z == pytest.approx(alie_z(50, 5))
    assert attack.knowledge == "own"


@pytest.mark.parametrize(
    "context, options, message",
    [
        ({"n_clients": 10, "n_malicious": 6}, "", "ALIE needs 0 < s < n"),
        ({}, "", "alie needs z, or the scenario's n_clients and n_malicious"),
        ({}, "(z=1.0, knowledge=some)", "knowledge must be one of"),
    ],
)
def test_bad_settings(context, options, message):
    with pytest.raises(SpecError, match=message):
        ATTACKS.create(f"alie{options}", **context)
