"""Central DP (DP-FedAvg): clipping, fixed denominator, noise scale, epsilon."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from defense_helpers import context
from opacus.accountants import RDPAccountant

from fedarena.defenses import AccountingSetting, create_defense
from fedarena.defenses.central_dp import CentralDP
from fedarena.defenses.privacy import ORDERS


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


def test_epsilon_is_shopper_level_over_rounds():
    setting = AccountingSetting(population=[None] * 500, local=None, clients_per_round=50)
    accountant = create_defense("central_dp(noise_multiplier=1.2, delta=1e-4)").accountant(setting)
    for _ in range(30):
        accountant.step(np.arange(50))
    reference = RDPAccountant()
    reference.history = [(1.2, 0.1, 30)]
    privacy = accountant.spent()
    assert privacy == {"epsilon": pytest.approx(reference.get_epsilon(1e-4, ORDERS)), "delta": 1e-4}
    assert 0 < privacy["epsilon"] < float("inf")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("central_dp(noise_multiplier=0)", "noise_multiplier must be > 0"),
        ("central_dp(max_norm=-1)", "max_norm must be > 0"),
        ("central_dp(delta=1)", r"delta must be in \(0, 1\)"),
    ],
)
def test_bad_options(spec, message):
    with pytest.raises(Exception, match=message):
        create_defense(spec)
