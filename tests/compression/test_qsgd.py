"""Stochastic quantisation: unbiased, on the grid, seeded by (seed, round, client), bytes exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.compression import COMPRESSORS
from fedarena.compression.qsgd import QSGD
from fedarena.errors import SpecError

U = torch.tensor([0.9, -0.35, 0.0, 0.05, -1.2, 0.6, 0.001, -0.7])


def _draws(compressor: QSGD, u: torch.Tensor, n_clients: int, n_rounds: int) -> torch.Tensor:
    out = []
    for _ in range(n_rounds):
        received, _ = compressor.roundtrip([u] * n_clients, np.arange(n_clients))
        out.extend(received)
    return torch.stack(out).double()


@pytest.mark.parametrize("bits", [2, 8])
def test_is_unbiased(bits):
    # With s levels and scale a = max |u|, coordinate i is a/s (l_i + Bernoulli(p_i)):
    # its standard deviation is a/s sqrt(p_i (1 - p_i)), so the mean of n draws lies
    # within 5 standard errors of u_i.
    n = 6000
    draws = _draws(QSGD(bits=bits, seed=1), U, n_clients=1000, n_rounds=n // 1000)
    s = 2 ** (bits - 1) - 1
    a = float(U.abs().max())
    r = U.double().abs() / a * s
    p = r - r.floor()
    stderr = a / s * torch.sqrt(p * (1 - p) / n)
    assert torch.all((draws.mean(dim=0) - U.double()).abs() <= 5 * stderr + 1e-7)
    # and the spread is the Bernoulli one (not a deterministic rounding)
    torch.testing.assert_close(
        draws.std(dim=0), a / s * torch.sqrt(p * (1 - p)), atol=0.05 * a / s, rtol=0.1
    )


def test_decodes_to_one_of_the_two_nearest_levels_with_the_sign():
    bits, s = 3, 3
    draws = _draws(QSGD(bits=bits), U, n_clients=200, n_rounds=1)
    a = float(U.abs().max())
    level = draws.abs() / a * s
    r = (U.abs() / a * s).double()
    assert torch.allclose(level, level.round(), atol=1e-5)
    assert torch.all((level.round() == r.floor()) | (level.round() == r.floor() + 1))
    assert torch.all(draws * U.double() >= 0)


def test_values_on_the_grid_are_sent_exactly():
    u = torch.tensor([1.5, -1.0, 0.5, 0.0])  # a = 1.5, s = 3: levels 3, 2, 1, 0
    received, _ = QSGD(bits=3).roundtrip([u], np.array([0]))
    assert torch.equal(received[0], u)


def test_each_bucket_has_its_own_scale():
    # Buckets of 2: the small bucket is on its own grid (scale 0.5), exact.
    u = torch.tensor([100.0, -50.0, 0.5, -0.25])
    received, _ = QSGD(bits=2, bucket=2).roundtrip([u], np.array([0]))
    assert received[0][2] == 0.5  # a = 100 for all four would send 0 or 100
    assert received[0][3] in (0.0, -0.5)


@pytest.mark.parametrize(
    "d, bits, bucket, expected",
    [
        (1000, 8, 512, 4 * 2 + 1000),
        (1000, 4, 512, 4 * 2 + 500),
        (5, 3, 512, 4 * 1 + 2),  # 15 bits -> 2 bytes
        (512, 8, 512, 4 * 1 + 512),
        (513, 8, 512, 4 * 2 + 513),
        (7, 2, 1, 4 * 7 + 2),
    ],
)
def test_bytes_are_scales_plus_packed_levels(d, bits, bucket, expected):
    _, n_bytes = QSGD(bits=bits, bucket=bucket).roundtrip([torch.ones(d)], np.array([0]))
    assert n_bytes == [expected]


def test_draws_depend_on_seed_round_and_client_only():
    u = torch.linspace(-1, 1, 300)
    a, b = QSGD(seed=4), QSGD(seed=4)
    first_a, _ = a.roundtrip([u, u], np.array([10, 20]))
    first_b, _ = b.roundtrip([u, u], np.array([20, 10]))  # other order, same clients
    assert torch.equal(first_a[0], first_b[1]) and torch.equal(first_a[1], first_b[0])
    assert not torch.equal(first_a[0], first_a[1])  # another client, other draws
    second_a, _ = a.roundtrip([u], np.array([10]))
    assert not torch.equal(second_a[0], first_a[0])  # another round, other draws
    other_seed, _ = QSGD(seed=5).roundtrip([u], np.array([10]))
    assert not torch.equal(other_seed[0], first_a[0])


def test_seed_comes_from_the_scenario_context():
    assert COMPRESSORS.create("qsgd(bits=4)", seed=9).seed == 9


def test_zero_and_huge_updates_stay_finite():
    huge = torch.tensor([3e38, -3e38, 1e38])
    received, _ = QSGD().roundtrip([torch.zeros(4), huge], np.array([0, 1]))
    assert torch.equal(received[0], torch.zeros(4))
    assert torch.isfinite(received[1]).all()
    assert received[1][:2].tolist() == huge[:2].tolist()


@pytest.mark.parametrize(
    "message",
    [torch.tensor([float("nan"), 1.0]), torch.tensor([1, 2]), torch.ones(2, 2), None, [1.0]],
    ids=["nan", "int", "2d", "none", "list"],
)
def test_non_conforming_messages_pass_untouched(message):
    received, n_bytes = QSGD().roundtrip([message], np.array([0]))
    assert received[0] is message
    raw = message.numel() * message.element_size() if torch.is_tensor(message) else 0
    assert n_bytes == [raw]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("qsgd(bits=1)", "bits must be an integer in [2, 8], got 1"),
        ("qsgd(bits=16)", "bits must be an integer in [2, 8], got 16"),
        ("qsgd(bits=8.0)", "bits must be an integer in [2, 8], got 8.0"),
        ("qsgd(bucket=0)", "bucket must be an integer >= 1, got 0"),
        ("qsgd(levels=3)", "its options: bits, bucket"),
    ],
)
def test_bad_options_are_named(spec, message):
    with pytest.raises(SpecError) as err:
        COMPRESSORS.create(spec, seed=0)
    assert message in str(err.value)


def test_ratio_to_float32_is_about_four_at_eight_bits():
    d = 35_702  # the default model's shared parameters
    assert 4 * d / QSGD().message_bytes(d) == pytest.approx(4 / (1 + 4 / 512), rel=1e-3)
