"""Top-k with error feedback: what is kept, what is carried over, and the bytes counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.compression import COMPRESSORS
from fedarena.compression.topk import TopK
from fedarena.errors import SpecError


def _send(compressor, updates, clients):
    return compressor.roundtrip(list(updates), np.asarray(clients))


def test_keeps_the_k_largest_magnitudes_and_zeros_the_rest():
    received, _ = _send(TopK(ratio=0.4), [torch.tensor([0.5, -4.0, 1.0, 3.0, -2.0])], [0])
    assert received[0].tolist() == [0.0, -4.0, 0.0, 3.0, 0.0]


def test_ties_go_to_the_lower_index():
    received, _ = _send(TopK(ratio=0.5), [torch.tensor([1.0, -2.0, 2.0, -2.0])], [0])
    assert received[0].tolist() == [0.0, -2.0, 2.0, 0.0]


def test_error_feedback_carries_exactly_the_dropped_mass():
    # Dyadic values: every sum below is exact in float32.
    topk = TopK(ratio=0.25)
    first = torch.tensor([4.0, 0.5, -0.25, 1.0, 0.0, -3.0, 0.125, 2.0])
    sent, _ = _send(topk, [first], [7])
    assert sent[0].tolist() == [4.0, 0, 0, 0, 0, -3.0, 0, 0]
    dropped = first - sent[0]
    assert torch.equal(topk.residuals[7], dropped)
    second = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.5])
    sent2, _ = _send(topk, [second], [7])
    # p = second + dropped = [0, .5, -.25, 1, 0, 0, .125, -.5]: keeps 1 and (tie at .5) index 1
    assert sent2[0].tolist() == [0, 0.5, 0, 1.0, 0, 0, 0, 0]
    assert torch.equal(topk.residuals[7], second + dropped - sent2[0])


def test_over_rounds_sent_plus_residual_is_what_the_client_computed():
    topk = TopK(ratio=0.1)
    rng = np.random.default_rng(0)
    updates = [torch.from_numpy(rng.integers(-64, 64, size=50) / 8.0).float() for _ in range(6)]
    total_sent = torch.zeros(50)
    for u in updates:
        sent, _ = _send(topk, [u], [3])
        total_sent += sent[0]
    assert torch.equal(total_sent + topk.residuals[3], torch.stack(updates).sum(dim=0))


def test_residuals_are_kept_per_client_whatever_the_order():
    a, b = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([-4.0, 3.0, -2.0, 1.0])
    one, two = TopK(ratio=0.25), TopK(ratio=0.25)
    _send(one, [a, b], [5, 9])
    _send(two, [b, a], [9, 5])
    got_one, _ = _send(one, [a, b], [5, 9])
    got_two, _ = _send(two, [b, a], [9, 5])
    assert torch.equal(got_one[0], got_two[1]) and torch.equal(got_one[1], got_two[0])
    assert torch.equal(one.residuals[5], two.residuals[5])
    assert not torch.equal(one.residuals[5], one.residuals[9])


@pytest.mark.parametrize(
    "d, ratio, expected",
    [
        (10, 0.3, 4 + 3 * (4 + 1)),
        (256, 0.5, 4 + 128 * (4 + 1)),  # indices 0..255 fit one byte
        (257, 0.5, 4 + 128 * (4 + 2)),  # round(128.5) = 128 (half to even)
        (1000, 0.1, 4 + 100 * (4 + 2)),
        (65_537, 0.01, 4 + 655 * (4 + 4)),
        (3, 0.01, 4 + 1 * (4 + 1)),  # at least one coordinate
        (5, 1.0, 4 + 5 * (4 + 1)),
    ],
)
def test_bytes_are_count_values_and_narrowest_indices(d, ratio, expected):
    _, n_bytes = _send(TopK(ratio=ratio), [torch.ones(d)], [0])
    assert n_bytes == [expected]


def test_is_deterministic():
    rng = np.random.default_rng(1)
    rounds = [[torch.from_numpy(rng.normal(size=40)).float() for _ in range(3)] for _ in range(4)]
    outputs = []
    for _ in range(2):
        topk = TopK(ratio=0.2)
        outputs.append([_send(topk, r, [0, 1, 2])[0] for r in rounds])
    for x, y in zip(outputs[0], outputs[1], strict=True):
        assert all(torch.equal(a, b) for a, b in zip(x, y, strict=True))


NON_CONFORMING = [
    torch.tensor([1.0, float("nan"), 0.0, 0.0]),
    torch.tensor([1.0, float("inf"), 0.0, 0.0]),
    torch.tensor([1, 2, 3, 4]),
    torch.ones(2, 2),
    torch.ones(3),  # not the length of this client's residual
    torch.tensor([1e300, 0.0, 0.0, 0.0], dtype=torch.float64),  # overflows float32
    [1.0, 2.0, 3.0, 4.0],
    None,
    "update",
]


@pytest.mark.parametrize("message", NON_CONFORMING, ids=lambda m: type(m).__name__)
def test_non_conforming_messages_pass_untouched_and_leave_the_residual(message):
    topk = TopK(ratio=0.25)
    _send(topk, [torch.tensor([1.0, 0.5, 0.25, 2.0])], [4])
    before = topk.residuals[4].clone()
    received, n_bytes = _send(topk, [message], [4])
    assert received[0] is message
    expected = message.numel() * message.element_size() if torch.is_tensor(message) else 0
    assert n_bytes == [expected]
    assert torch.equal(topk.residuals[4], before)


def test_an_update_that_overflows_with_its_residual_passes_untouched():
    topk = TopK(ratio=0.5)
    big = torch.tensor([3e38, 3e38])
    _send(topk, [big], [0])  # sends one 3e38, keeps the other
    received, _ = _send(topk, [big], [0])
    assert received[0] is big
    assert torch.equal(topk.residuals[0], torch.tensor([0.0, 3e38]))


@pytest.mark.parametrize("ratio", ["0", "1.5", "-0.1", "True", "'x'"])
def test_bad_ratio_is_rejected(ratio):
    with pytest.raises(SpecError, match=r"ratio must be in \(0, 1\]"):
        COMPRESSORS.create(f"topk(ratio={ratio})")
