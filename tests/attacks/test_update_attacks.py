"""Sign flipping, Gaussian noise and IPM: known answers on hand-made updates."""

from __future__ import annotations

import pytest
import torch

from fedarena.attacks import ATTACKS
from fedarena.attacks.gaussian import GaussianNoise
from fedarena.attacks.ipm import InnerProductManipulation
from fedarena.attacks.sign_flip import SignFlip
from fedarena.errors import SpecError

UPDATES = torch.tensor([[1.0, -2.0], [3.0, 4.0], [5.0, 0.0]])
MALICIOUS = torch.tensor([True, False, True])


def test_sign_flip_sends_minus_scale_times_own_update(ctx):
    sent = SignFlip(scale=4.0).craft(UPDATES, MALICIOUS, ctx(UPDATES, MALICIOUS))
    assert torch.stack(sent).tolist() == [[-4.0, 8.0], [3.0, 4.0], [-20.0, 0.0]]


def test_gaussian_rows_come_from_the_round_generator(ctx):
    attack = GaussianNoise(mean=1.0, std=0.5)
    sent = attack.craft(UPDATES, MALICIOUS, ctx(UPDATES, MALICIOUS, seed=7))
    expected = 1.0 + 0.5 * torch.randn(2, 2, generator=torch.Generator().manual_seed(7))
    assert torch.equal(torch.stack([sent[0], sent[2]]), expected)
    assert torch.equal(sent[1], UPDATES[1])


def test_gaussian_has_the_stated_moments(ctx):
    updates = torch.zeros(2, 200_000)
    malicious = torch.tensor([True, False])
    row = GaussianNoise(mean=-0.3, std=2.0).craft(updates, malicious, ctx(updates, malicious))[0]
    assert row.mean().item() == pytest.approx(-0.3, abs=0.02)
    assert row.std().item() == pytest.approx(2.0, rel=0.01)


def test_ipm_sends_minus_epsilon_times_the_benign_mean(ctx):
    sent = InnerProductManipulation(epsilon=0.5).craft(UPDATES, MALICIOUS, ctx(UPDATES, MALICIOUS))
    assert torch.stack(sent).tolist() == [[-1.5, -2.0], [3.0, 4.0], [-1.5, -2.0]]


def test_ipm_with_own_knowledge_uses_the_malicious_clients_updates(ctx):
    attack = InnerProductManipulation(epsilon=2.0, knowledge="own")
    sent = attack.craft(UPDATES, MALICIOUS, ctx(UPDATES, MALICIOUS))
    assert sent[0].tolist() == [-6.0, 2.0]  # -2 * mean([1, -2], [5, 0])


def test_ipm_reverses_plain_averaging_beyond_n_minus_f_over_f(ctx):
    generator = torch.Generator().manual_seed(0)
    updates = torch.randn(10, 5, generator=generator) + 1.0
    malicious = torch.arange(10) < 2
    true_mean = updates[~malicious].mean(dim=0)
    for epsilon, sign in ((3.9, 1), (4.1, -1)):  # threshold (n - f) / f = 8 / 2 = 4
        sent = torch.stack(
            InnerProductManipulation(epsilon).craft(updates, malicious, ctx(updates, malicious))
        )
        assert torch.sign(sent.mean(dim=0) @ true_mean) == sign


def test_omniscient_attacks_declare_it():
    assert ATTACKS.create("ipm").knowledge == "omniscient"
    assert ATTACKS.create("ipm(knowledge=own)").knowledge == "own"
    assert ATTACKS.create("sign_flip").knowledge == "own"
    assert ATTACKS.create("gaussian").knowledge == "none"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("sign_flip(scale=0)", "scale must be > 0"),
        ("gaussian(std=-1)", "std must be > 0"),
        ("ipm(epsilon=0)", "epsilon must be > 0"),
        ("ipm(knowledge=all)", "knowledge must be one of omniscient, own"),
    ],
)
def test_bad_options(spec, message):
    with pytest.raises(SpecError, match=message):
        ATTACKS.create(spec)
