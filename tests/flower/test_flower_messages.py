"""Records on the wire: exact for honest values, faithful for garbage, never raising."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from fedarena.engine import guard
from fedarena.flower.messages import (
    METRICS,
    UPDATE,
    WEIGHT,
    TrainInstruction,
    decoded_update,
    params_from,
    params_record,
    reply_content,
    reported_loss,
    reported_weight,
)
from fedarena.scenario.spec import Scenario
from fedarena.training.local import LocalTraining

D = 12


def _roundtrip(sent):
    return decoded_update(reply_content(sent, 5, 0.25))


def test_parameters_cross_the_wire_bit_for_bit():
    flat = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(params_from(params_record(flat)), flat)


def test_an_honest_update_arrives_as_sent():
    update = torch.randn(D)
    received = _roundtrip(update)
    assert received.dtype == torch.float32 and torch.equal(received, update)
    assert guard.is_well_formed(received, D)


@pytest.mark.parametrize(
    "sent",
    [
        torch.full((D,), float("nan")),
        torch.tensor([float("inf")] * D),
        torch.full((D,), 1e38),
        torch.zeros(D + 1),
        torch.zeros(D, dtype=torch.int64),
        torch.zeros(D, D),
    ],
    ids=["nan", "inf", "huge", "long", "int", "matrix"],
)
def test_malformed_tensors_arrive_as_sent_and_the_guard_rejects_them(sent):
    received = _roundtrip(sent)
    assert received.dtype == sent.dtype and received.shape == sent.shape
    assert torch.equal(received.isnan(), sent.isnan())
    assert not guard.is_well_formed(received, D)


@pytest.mark.parametrize("sent", [None, "text", np.zeros(D, dtype=np.float32), [1.0] * D])
def test_what_is_not_a_tensor_arrives_as_nothing(sent):
    assert _roundtrip(sent) is None


@pytest.mark.parametrize(
    "content",
    [
        RecordDict(),
        RecordDict({UPDATE: ArrayRecord()}),
        RecordDict({UPDATE: ArrayRecord({"other": Array(np.zeros(D, dtype=np.float32))})}),
        RecordDict({UPDATE: ArrayRecord({UPDATE: Array(np.array(["a", "b"]))})}),
        RecordDict({UPDATE: ConfigRecord({UPDATE: 1.0})}),
    ],
    ids=["empty", "no-array", "wrong-key", "strings", "not-arrays"],
)
def test_unreadable_replies_decode_to_nothing(content):
    assert decoded_update(content) is None


@pytest.mark.parametrize(
    "value, expected",
    [(40, 40.0), (2.5, 2.5), (0, None), (-3, None), (math.nan, None), (math.inf, None)],
)
def test_only_a_finite_positive_weight_is_usable(value, expected):
    content = RecordDict({METRICS: MetricRecord({WEIGHT: value})})
    assert reported_weight(content) == expected


def test_a_missing_weight_or_loss_is_unusable():
    assert reported_weight(RecordDict()) is None
    assert math.isnan(reported_loss(RecordDict()))


def test_reply_reports_weight_and_loss():
    content = reply_content(torch.zeros(D), 17, 0.5)
    assert reported_weight(content) == 17.0
    assert reported_loss(content) == 0.5


def test_train_instruction_survives_its_record():
    instruction = TrainInstruction(
        scenario=Scenario(rounds=4, shoppers=90, attack="sign_flip(scale=2.0)", alpha=0.7),
        round=3,
        shopper=41,
        n_sampled=12,
        server_gain=0.5,
        local=LocalTraining(epochs=2, lr=0.01, prox_mu=0.25, optimizer="sgd"),
        verbose=True,
    )
    assert TrainInstruction.from_record(instruction.record()) == instruction
