"""Whatever clients send (any object as an update, any number as a sample count), the
server's half of a round never raises and never leaves a non-finite global model, for
every built-in defense."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from fuzz_settings import fuzz
from hypothesis import given
from hypothesis import strategies as st

from fedarena.scenario.world import build_world
from tiny import TINY

DEFENSES = [
    "fedavg",
    "krum",
    "multi_krum",
    "median",
    "trimmed_mean",
    "bulyan(f=1)",
    "norm_clip(max_norm=1)",
    "geometric_median",
    "flame",
    "foolsgold",
    "centered_clipping",
    "norm_clip(max_norm=1) > krum",
    "bucketing(s=2) > median",
    "nnm > trimmed_mean",
]
HOSTILE_FLOATS = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 1e-45, 3e38, -3e38, 1e300, float("nan"), float("inf"), -float("inf")]
)
WEIGHTS = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, True, "12", [3]]),
)


def _federation(defense: str):
    world = build_world(replace(TINY, defense=defense, rounds=1))
    federation = world.federation(users=world.init_users.clone())
    plan = federation.plan_round(0)
    result = federation.train(0, plan.clients, plan.local)
    honest = list(result.updates.dense())
    return federation, plan, honest, result.loss


FEDERATIONS = {}


def federation_for(defense: str):
    """One trained round per defense, reused: the fuzzing is of what the server receives."""
    if defense not in FEDERATIONS:
        FEDERATIONS[defense] = _federation(defense)
    return FEDERATIONS[defense]


@st.composite
def sent_update(draw, dim: int, honest: torch.Tensor):
    kind = draw(st.sampled_from(["honest", "scaled", "poked", "dtype", "shape", "object"]))
    if kind == "honest":
        return honest
    if kind == "scaled":
        return honest * draw(HOSTILE_FLOATS)
    if kind == "poked":
        poked = honest.double()  # float64 holds every hostile value, 1e300 included
        for _ in range(draw(st.integers(1, 4))):
            poked[draw(st.integers(0, dim - 1))] = draw(HOSTILE_FLOATS)
        return poked
    if kind == "dtype":
        dtype = draw(st.sampled_from([torch.float64, torch.float16, torch.int64, torch.bool]))
        return honest.to(dtype)
    if kind == "shape":
        return torch.zeros(draw(st.sampled_from([(0,), (dim + 1,), (dim - 1,), (2, dim), ()])))
    return draw(st.sampled_from([None, "update", 3.0, [1.0] * 4, np.ones(dim), {"x": 1}]))


@pytest.mark.parametrize("defense", DEFENSES)
@fuzz
@given(data=st.data())
def test_any_round_of_sent_updates_leaves_a_finite_model(defense, data):
    federation, plan, honest, losses = federation_for(defense)
    dim = len(federation.global_params)
    before = federation.global_params.clone()
    sent = [data.draw(sent_update(dim, u)) for u in honest]
    weights = [data.draw(WEIGHTS) for _ in honest]
    record = federation.finish_round(plan, sent, weights, losses)
    assert torch.isfinite(federation.global_params).all()
    assert record.n_rejected <= len(sent)
    federation.global_params = before  # the next example starts from the same model
    federation.history.clear()
