"""Privacy accounting without amplification, shared by ``dp_sgd`` and ``central_dp``: the
Gaussian RDP equals Opacus's at sampling rate 1, and the accountants' reports keep the
properties any valid per-shopper bound has."""

from __future__ import annotations

import numpy as np
import pytest
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

from fedarena.data.builtin import generate_catalog
from fedarena.data.shoppers import PopulationConfig, simulate_population
from fedarena.defenses import AccountingSetting, create_defense
from fedarena.defenses.central_dp import CentralDP
from fedarena.defenses.dp_sgd import DpSgd
from fedarena.defenses.privacy import ORDERS, gaussian_epsilon, gaussian_rdp
from fedarena.errors import SpecError
from fedarena.strategies.base import sample_uniform
from fedarena.training.local import LocalTraining

KEYS = {
    "epsilon_shopper",
    "epsilon_shopper_median",
    "epsilon_example",
    "epsilon_example_median",
    "delta",
}
pytestmark = pytest.mark.filterwarnings("ignore:Optimal order:UserWarning")


@pytest.mark.parametrize("z", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("k", [1, 6, 90])
def test_gaussian_rdp_and_epsilon_equal_opacus_at_sampling_rate_one(z, k):
    a = np.asarray(ORDERS)
    ours = gaussian_rdp(z, k)
    opacus = compute_rdp(q=1.0, noise_multiplier=z, steps=k, orders=ORDERS)
    np.testing.assert_allclose(ours, k * a / (2 * z**2), rtol=1e-12)
    np.testing.assert_allclose(ours, opacus, rtol=1e-12)
    for delta in (1e-5, 1 / 500):
        expected, _ = get_privacy_spent(orders=ORDERS, rdp=opacus, delta=delta)
        reference = RDPAccountant()
        for _ in range(k):
            reference.step(noise_multiplier=z, sample_rate=1.0)
        assert gaussian_epsilon(z, k, delta) == pytest.approx(expected, rel=1e-12)
        assert gaussian_epsilon(z, k, delta) == pytest.approx(reference.get_epsilon(delta, ORDERS))


def test_nothing_released_spends_nothing():
    assert gaussian_epsilon(1.0, 0, 1e-5) == 0.0


@pytest.fixture(scope="module")
def setting() -> AccountingSetting:
    population = simulate_population(
        generate_catalog(300, seed=0), PopulationConfig(n_shoppers=40), seed=1
    )
    local = LocalTraining(epochs=3, batch_size=16, negatives_per_positive=2)
    return AccountingSetting(population, local, clients_per_round=8)


@pytest.fixture(params=["dp_sgd(noise_multiplier=2.0)", "central_dp(noise_multiplier=1.0)"])
def defense(request):
    return create_defense(request.param)


def test_reports_the_keys_and_before_any_round_nothing(defense, setting):
    accountant = defense.accountant(setting)
    assert accountant.spent() == dict.fromkeys(KEYS - {"delta"}, 0.0) | {"delta": 1 / 40}


def test_shopper_level_bounds_the_example_level_and_rounds_only_add(defense, setting):
    accountant = defense.accountant(setting)
    rng = np.random.default_rng(0)
    before_shopper, before_example = accountant.epsilons()
    before = accountant.spent()
    for _ in range(12):
        clients = sample_uniform(40, 8, rng)
        accountant.step(clients)
        by_shopper, by_example = accountant.epsilons()
        took_part = np.zeros(40, dtype=bool)
        took_part[clients] = True
        assert (by_shopper >= by_example).all()
        assert (by_example[took_part] > before_example[took_part]).all()
        assert (by_example[~took_part] == before_example[~took_part]).all()
        assert (by_shopper >= before_shopper).all()
        privacy = accountant.spent()
        assert set(privacy) == KEYS
        assert privacy["epsilon_shopper"] >= privacy["epsilon_example"]
        assert privacy["epsilon_shopper_median"] >= privacy["epsilon_example_median"]
        assert privacy["epsilon_shopper"] >= before["epsilon_shopper"]
        assert privacy["epsilon_example"] >= before["epsilon_example"]
        before_shopper, before_example, before = by_shopper, by_example, privacy
    never = accountant.rounds == 0
    assert never.any(), "some shopper should sit out 12 rounds of 8 of 40"
    assert (by_shopper[never] == 0).all() and (by_example[never] == 0).all()


def test_example_level_of_dp_sgd_counts_epochs_of_the_rounds_taken_part_in(setting):
    accountant = create_defense("dp_sgd(noise_multiplier=2.0, delta=1e-5)").accountant(setting)
    accountant.step(np.array([3, 5]))
    accountant.step(np.array([3]))
    _, by_example = accountant.epsilons()
    # Shopper 3: 2 rounds of 3 epochs, each example in one batch per epoch: RDP 6 a / (2 z^2).
    assert by_example[3] == pytest.approx(gaussian_epsilon(2.0, 6, 1e-5))
    assert by_example[5] == pytest.approx(gaussian_epsilon(2.0, 3, 1e-5))


@pytest.mark.parametrize("name", ["dp_sgd", "central_dp"])
@pytest.mark.parametrize("spec", ["{}", "{}(delta=auto)", "{}(delta='auto')"])
def test_delta_auto_is_one_over_the_shoppers(name, spec, setting):
    accountant = create_defense(spec.format(name)).accountant(setting)
    assert accountant.spent()["delta"] == 1 / len(setting.population) == 1 / 40


@pytest.mark.parametrize("name", ["dp_sgd", "central_dp"])
def test_a_numeric_delta_is_kept(name, setting):
    assert create_defense(f"{name}(delta=1e-6)").accountant(setting).spent()["delta"] == 1e-6


@pytest.mark.parametrize("rule", [DpSgd, CentralDP])
@pytest.mark.parametrize("value", [0, 1, -0.1, 1.5, float("nan"), True, "fast", [0.1], None])
def test_bad_delta_is_refused_naming_delta(rule, value):
    with pytest.raises(ValueError, match=r"^delta must be 'auto' or a number in \(0, 1\), got"):
        rule(delta=value)


@pytest.mark.parametrize("name", ["dp_sgd", "central_dp"])
def test_bad_delta_in_a_spec_names_the_defense_and_delta(name):
    with pytest.raises(SpecError, match=rf"defense '{name}': delta must be 'auto' or"):
        create_defense(f"{name}(delta=0)")


@pytest.mark.parametrize("name", ["dp_sgd", "central_dp"])
def test_delta_auto_needs_two_shoppers(name, setting):
    one = AccountingSetting([None], setting.local, clients_per_round=1)
    with pytest.raises(ValueError, match="delta='auto' is 1 / shoppers"):
        create_defense(name).accountant(one)
