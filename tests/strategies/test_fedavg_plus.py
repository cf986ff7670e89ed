"""FedAvg+: options, the server state it keeps, and its composition with local training."""

from __future__ import annotations

import pytest
import torch

from fedarena.errors import SpecError
from fedarena.strategies import STRATEGIES
from fedarena.strategies.fedavg_plus import FedAvgPlus
from fedarena.strategies.server_optimisers import Adagrad, Adam, Momentum, Yogi
from fedarena.training.local import LocalTraining


@pytest.mark.parametrize(
    "server_opt, expected",
    [("adam", Adam), ("yogi", Yogi), ("adagrad", Adagrad), ("momentum", Momentum)],
)
def test_server_opt_picks_the_optimiser_with_its_defaults(server_opt, expected):
    strategy = STRATEGIES.create(f"fedavg_plus(server_opt={server_opt})")
    assert type(strategy.optimiser) is expected
    assert strategy.server_lr == expected().lr


def test_options_reach_the_optimiser_and_server_lr_is_its_eta():
    strategy = STRATEGIES.create(
        "fedavg_plus(server_opt=yogi, server_lr=0.2, beta1=0.5, beta2=0.9, tau=0.01)"
    )
    optimiser = strategy.optimiser
    assert (optimiser.lr, optimiser.beta1, optimiser.beta2, optimiser.tau) == (0.2, 0.5, 0.9, 0.01)
    assert strategy.server_lr == 0.2


def test_two_rounds_of_adam_by_hand():
    # eta = 1, beta1 = 0.5, beta2 = 0.75, tau = 0.5 (v_{-1} = 0.25), Delta = 0.5 then 0:
    # m = 0.25, v = 0.25 -> step 0.25 / (0.5 + 0.5) = 0.25;
    # m = 0.125, v = 0.1875 -> step 0.125 / (sqrt(0.1875) + 0.5).
    strategy = FedAvgPlus(server_opt="adam", server_lr=1.0, beta1=0.5, beta2=0.75, tau=0.5)
    x1 = strategy.server_step(torch.tensor([1.0]), torch.tensor([0.5]), round=0)
    x2 = strategy.server_step(x1, torch.tensor([0.0]), round=1)
    assert x1.item() == pytest.approx(1.25)
    assert x2.item() == pytest.approx(1.25 + 0.125 / (0.1875**0.5 + 0.5))


def test_a_non_finite_step_leaves_the_server_state_as_it_was():
    clean = FedAvgPlus(server_opt="adam")
    hit = FedAvgPlus(server_opt="adam")
    x = torch.zeros(3)
    delta = torch.tensor([0.1, -0.2, 0.3])
    clean.server_step(x, delta, round=0)
    hit.server_step(x, delta, round=0)
    bad = hit.server_step(x, torch.tensor([float("nan"), 0.0, 0.0]), round=1)
    assert not bad.isfinite().all()  # the federation sees it and skips the step
    torch.testing.assert_close(
        hit.server_step(x, delta, round=2), clean.server_step(x, delta, round=1), rtol=0, atol=0
    )


def test_it_leaves_local_training_alone():
    local = LocalTraining(epochs=2, lr=0.1)
    assert FedAvgPlus().configure_local(local) == local


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            "fedavg_plus(server_opt=sgd)",
            "server_opt must be one of adam, yogi, adagrad, momentum, got 'sgd'",
        ),
        ("fedavg_plus(server_opt=momentum, tau=0.1)", "tau is not used by server_opt=momentum"),
        ("fedavg_plus(server_opt=adagrad, beta2=0.9)", "beta2 is not used by server_opt=adagrad"),
        ("fedavg_plus(beta1=1)", "beta1 must be in [0, 1), got 1"),
        ("fedavg_plus(server_lr=-1)", "server_lr must be > 0, got -1"),
        ("fedavg_plus(tau=0)", "tau must be > 0, got 0"),
        (
            "fedavg_plus(momentum=0.9)",
            "takes no option momentum; its options: server_opt, server_lr, beta1, beta2, tau",
        ),
    ],
)
def test_bad_options_are_one_line_errors_naming_the_allowed(spec, message):
    with pytest.raises(SpecError) as err:
        STRATEGIES.create(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unused_option_error_lists_what_the_optimiser_takes():
    with pytest.raises(SpecError, match=r"which takes server_lr, beta1$"):
        STRATEGIES.create("fedavg_plus(server_opt=momentum, beta2=0.9)")
