"""FLTrust: trust scores and rescaling by hand, the server update contract."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from defense_helpers import context, random_updates

from fedarena.defenses.fltrust import FLTrust


def _with_server(x, reference):
    return dataclasses.replace(context(x), server_update=lambda: reference)


def test_trust_is_relu_cosine_and_updates_take_the_server_norm():
    reference = torch.tensor([3.0, 4.0])  # norm 5
    x = torch.tensor([[1.0, 0.0], [0.0, 10.0], [-1.0, -1.0]])
    out = FLTrust().aggregate(x, torch.ones(3), _with_server(x, reference))
    # trust 0.6 and 0.8; rescaled to norm 5: (5, 0) and (0, 5); the third is flagged.
    expected = (0.6 * torch.tensor([5.0, 0.0]) + 0.8 * torch.tensor([0.0, 5.0])) / 1.4
    torch.testing.assert_close(out.update, expected)
    assert out.accepted.tolist() == [True, True, False]


def test_a_client_cannot_gain_weight_by_scaling_its_update():
    x = random_updates(6, 10, seed=0)
    reference = x[1:].mean(dim=0)
    base = FLTrust().aggregate(x, torch.ones(6), _with_server(x, reference)).update
    x[0] *= 1e6
    boosted = FLTrust().aggregate(x, torch.ones(6), _with_server(x, reference)).update
    torch.testing.assert_close(base, boosted, rtol=1e-5, atol=1e-6)
    assert float(boosted.norm()) <= float(reference.norm()) * (1 + 1e-6)


def test_no_trust_no_step():
    x = random_updates(4, 3, seed=1)
    out = FLTrust().aggregate(x, torch.ones(4), _with_server(x, torch.zeros(3)))
    assert torch.equal(out.update, torch.zeros(3)) and not out.accepted.any()


def test_needs_the_server_update():
    x = random_updates(4, 3, seed=1)
    with pytest.raises(ValueError, match="server_update is None"):
        FLTrust().aggregate(x, torch.ones(4), context(x))


def test_declares_its_root_set():
    assert FLTrust(root_shoppers=25).root_shoppers == 25
    with pytest.raises(ValueError, match="root_shoppers must be an integer >= 1"):
        FLTrust(root_shoppers=0)
    assert math.isfinite(FLTrust().root_shoppers)
