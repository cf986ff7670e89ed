"""Garbage: every malformed kind is rejected by the server, and a run with it completes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from fedarena.attacks.garbage import MESSAGES, Garbage
from fedarena.engine.guard import screen
from fedarena.scenario.run import run_scenario
from tiny import TINY


@pytest.mark.parametrize("kind", list(MESSAGES))
def test_each_kind_is_rejected_by_the_guard(ctx, kind):
    updates = torch.ones(3, 16)
    malicious = torch.tensor([False, True, False])
    sent = Garbage(kind=kind).craft(updates, malicious, ctx(updates, malicious))
    kept, valid = screen(sent, 16)
    assert valid.tolist() == [True, False, True]
    assert torch.equal(kept, torch.ones(2, 16))


def test_huge_has_finite_entries_and_an_overflowing_norm():
    message = MESSAGES["huge"](16)
    assert torch.isfinite(message).all() and not torch.isfinite(message.norm())


def test_mixed_cycles_through_every_kind(ctx):
    updates = torch.zeros(len(MESSAGES), 4)
    malicious = torch.ones(len(MESSAGES), dtype=torch.bool)
    kinds = list(MESSAGES)
    sent = Garbage().craft(updates, malicious, ctx(updates, malicious, round=3))
    for k, message in enumerate(sent):
        expected = MESSAGES[kinds[(3 + k) % len(kinds)]](4)
        assert type(message) is type(expected)
        if isinstance(expected, torch.Tensor):
            assert message.shape == expected.shape and message.dtype == expected.dtype


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of mixed, nan, inf"):
        Garbage(kind="zeros")


def test_a_whole_run_with_20_percent_garbage_completes_with_finite_metrics():
    scenario = replace(TINY, rounds=3, local_epochs=3, attack="garbage", malicious_fraction=0.2)
    result = run_scenario(scenario)
    for key in ("ndcg@10", "hr@10", "auc", "ndcg@10_drop"):
        assert math.isfinite(result["final"][key])
    assert sum(r["n_malicious_sampled"] for r in result["rounds"]) > 0
    for record in result["rounds"]:
        assert record["n_rejected"] == record["n_malicious_sampled"]
        assert not record["skipped_step"]
