"""Central DP (DP-FedAvg): clipping, fixed denominator, noise scale, epsilon."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from defense_helpers import context
from opacus.accountants import RDPAccountant

from fedarena.defenses import AccountingSetting, create_defense
from fedarena.defenses.central_dp import CentralDP
from fedarena.defenses.privacy import ORDERS, gaussian_epsilon


def test_clipped_sum_over_the_fixed_number_of_clients_plus_noise():
    x = torch.zeros(4, 50_000)
    x[0, 0], x[1, 1] = 10.0, 0.5  # clipped to 2, kept
    dp = CentralDP(max_norm=2.0, noise_multiplier=0.5, n_clients=5)
    out = dp.aggregate(x, torch.ones(4), context(x, seed=1))
    noise = out.update.clone()
    noise[:2] -= torch.tensor([2.0 / 5, 0.5 / 5])
    assert abs(float(noise.std()) / (0.5 * 2.0 / 5) - 1) < 0.02
    assert abs(float(noise.mean())) < 0.01


def test_same_seed_same_noise():
    x = torch.ones(3, 10)
    a = CentralDP().aggregate(x, torch.ones(3), context(x, seed=7)).update
    b = CentralDP().aggregate(x, torch.ones(3), context(x, seed=7)).update
    assert torch.equal(a, b)


@pytest.mark.filterwarnings("ignore:Optimal order:UserWarning")
def test_epsilon_is_shopper_level_over_the_rounds_taken_part_in():
    setting = AccountingSetting(population=[None] * 500, local=None, clients_per_round=50)
    accountant = create_defense("central_dp(noise_multiplier=1.2, delta=1e-4)").accountant(setting)
    for _ in range(30):
        accountant.step(np.arange(50))
    # No amplification: 30 Gaussian mechanisms of sensitivity S for each of shoppers 0..49.
    reference = RDPAccountant()
    for _ in range(30):
        reference.step(noise_multiplier=1.2, sample_rate=1.0)
    epsilon = pytest.approx(reference.get_epsilon(1e-4, ORDERS))
    assert accountant.spent() == {
        "epsilon_shopper": epsilon,
        "epsilon_shopper_median": epsilon,
        "epsilon_example": epsilon,
        "epsilon_example_median": epsilon,
        "delta": 1e-4,
    }
    by_shopper, by_example = accountant.epsilons()
    assert (by_shopper[50:] == 0).all() and (by_example[50:] == 0).all()


def test_each_shopper_spends_by_its_own_rounds():
    setting = AccountingSetting(population=[None] * 4, local=None, clients_per_round=2)
    accountant = create_defense("central_dp(noise_multiplier=2.0)").accountant(setting)
    for clients in ([0, 1], [0, 2], [0, 1]):
        accountant.step(np.array(clients))
    by_shopper, by_example = accountant.epsilons()
    expected = [gaussian_epsilon(2.0, r, 0.25) for r in (3, 2, 1, 0)]
    assert by_shopper.tolist() == by_example.tolist() == pytest.approx(expected)
    privacy = accountant.spent()
    assert privacy["epsilon_shopper"] == pytest.approx(expected[0])
    assert privacy["epsilon_shopper_median"] == pytest.approx(expected[1]), "over shoppers 0-2"
    assert privacy["delta"] == 0.25


@pytest.mark.parametrize(
    "spec, message",
    [
        ("central_dp(noise_multiplier=0)", "noise_multiplier must be > 0"),
        ("central_dp(max_norm=-1)", "max_norm must be > 0"),
        ("central_dp(delta=1)", r"delta must be 'auto' or a number in \(0, 1\)"),
        ("central_dp(delta=fast)", r"delta must be 'auto' or a number in \(0, 1\), got 'fast'"),
    ],
)
def test_bad_options(spec, message):
    with pytest.raises(Exception, match=message):
        create_defense(spec)
