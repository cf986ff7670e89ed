"""Server optimisers against Reddi et al. (ICLR 2021) Algorithm 2 and Hsu et al. (2019), by hand."""

from __future__ import annotations

import math
import re

import pytest
import torch

from fedarena.strategies.server_optimisers import Adagrad, Adam, Momentum, Yogi


def _run(optimiser, deltas):
    """Increments for a sequence of Delta_t, from the initial state."""
    state = optimiser.init(len(deltas[0]))
    steps = []
    for delta in deltas:
        step, state = optimiser.update(torch.tensor(delta), state)
        steps.append(step.tolist())
    return steps


def _sign(x):
    return (x > 0) - (x < 0)


def _by_hand(rule, deltas, lr, beta1, beta2, tau):
    """Algorithm 2 on one coordinate at a time, in plain Python floats."""
    steps = []
    m = [0.0] * len(deltas[0])
    v = [tau**2] * len(deltas[0])
    for delta in deltas:
        row = []
        for i, d in enumerate(delta):
            m[i] = beta1 * m[i] + (1 - beta1) * d
            if rule == "adam":
                v[i] = beta2 * v[i] + (1 - beta2) * d * d
            elif rule == "yogi":
                v[i] = v[i] - (1 - beta2) * d * d * _sign(v[i] - d * d)
            else:
                v[i] = v[i] + d * d
            row.append(lr * m[i] / (math.sqrt(v[i]) + tau))
        steps.append(row)
    return steps


DELTAS = [[0.5, -2.0, 0.0], [0.25, 1.0, -0.125], [-0.5, 0.0, 0.75]]


def test_adam_first_step_by_hand():
    # m_0 = 0.5 * 0.5 = 0.25; v_0 = 0.75 * 0.5^2 + 0.25 * 0.5^2 = 0.25 (v_{-1} = tau^2 = 0.25);
    # step = 1 * 0.25 / (0.5 + 0.5) = 0.25.
    step = _run(Adam(lr=1.0, beta1=0.5, beta2=0.75, tau=0.5), [[0.5]])[0]
    assert step == pytest.approx([0.25])


def test_adagrad_accumulates_squares_by_hand():
    # tau = 1: v = 1 + 3^2 = 10, then 10 + 4^2 = 26; beta1 = 0 so m = Delta.
    steps = _run(Adagrad(lr=2.0, beta1=0.0, tau=1.0), [[3.0], [4.0]])
    assert steps[0] == pytest.approx([2 * 3 / (math.sqrt(10) + 1)])
    assert steps[1] == pytest.approx([2 * 4 / (math.sqrt(26) + 1)])


def test_yogi_moves_v_towards_delta_squared_by_a_fixed_amount():
    # v_{-1} = 4 > Delta^2 = 1: v_0 = 4 - 0.5 * 1 = 3.5 (Adam would give 0.5 * 4 + 0.5 = 2.5);
    # then Delta^2 = 16 > 3.5: v_1 = 3.5 + 0.5 * 16 = 11.5.
    yogi = Yogi(lr=1.0, beta1=0.0, beta2=0.5, tau=2.0)
    steps = _run(yogi, [[1.0], [4.0]])
    assert steps[0] == pytest.approx([1 / (math.sqrt(3.5) + 2)])
    assert steps[1] == pytest.approx([4 / (math.sqrt(11.5) + 2)])


@pytest.mark.parametrize(
    "rule, make",
    [
        ("adam", lambda: Adam(lr=0.1, beta1=0.9, beta2=0.99, tau=1e-3)),
        ("yogi", lambda: Yogi(lr=0.1, beta1=0.9, beta2=0.99, tau=1e-3)),
        ("adagrad", lambda: Adagrad(lr=0.1, beta1=0.9, tau=1e-3)),
    ],
)
def test_adaptive_rules_follow_algorithm_2(rule, make):
    optimiser = make()
    expected = _by_hand(rule, DELTAS, 0.1, 0.9, getattr(optimiser, "beta2", 0.0), 1e-3)
    for got, want in zip(_run(optimiser, DELTAS), expected, strict=True):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7)


def test_increment_has_the_sign_of_the_client_change():
    # Delta_t is the clients' change (not a gradient): the model moves along it.
    for optimiser in (Adam(), Yogi(), Adagrad(), Momentum()):
        step = _run(optimiser, [[0.3, -0.3]])[0]
        assert step[0] > 0 > step[1]


def test_momentum_sums_past_changes_by_hand():
    # m_0 = 1, m_1 = 0.5 * 1 + 2 = 2.5, m_2 = 0.5 * 2.5 - 1 = 0.25; step = 0.1 m.
    steps = _run(Momentum(lr=0.1, beta1=0.5), [[1.0], [2.0], [-1.0]])
    assert [s[0] for s in steps] == pytest.approx([0.1, 0.25, 0.025])


def test_zero_change_on_a_fresh_coordinate_does_not_move_it():
    for optimiser in (Adam(), Yogi(), Adagrad(), Momentum()):
        assert _run(optimiser, [[0.0, 1.0]])[0][0] == 0.0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Adam(lr=0.0), "server_lr must be > 0"),
        (lambda: Adam(beta1=1.0), "beta1 must be in [0, 1)"),
        (lambda: Yogi(beta2=-0.1), "beta2 must be in [0, 1)"),
        (lambda: Adagrad(tau=0.0), "tau must be > 0"),
        (lambda: Momentum(beta1=float("nan")), "beta1 must be a number"),
        (lambda: Adam(lr="fast"), "server_lr must be a number"),
    ],
)
def test_bad_hyperparameters_are_named(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
