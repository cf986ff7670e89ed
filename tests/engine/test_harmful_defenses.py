"""A defense runs on copies: whatever it does to its inputs, the global model stays the
engine's, and a model that is not finite fails the run instead of scoring it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from fedarena.defenses import Aggregate
from fedarena.errors import RunFailed
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from tiny import TINY


class PoisonsItsInputs:
    """Writes NaN into everything it is handed, then returns the plain mean."""

    def aggregate(self, updates, weights, ctx):
        mean = updates.mean(dim=0).clone()
        ctx.global_params.fill_(float("nan"))
        updates.fill_(float("nan"))
        weights.fill_(float("nan"))
        return Aggregate(update=mean)


def test_a_defense_that_writes_nan_into_its_inputs_cannot_reach_the_model():
    poisoned = run_scenario(
        replace(TINY, defense="test_harmful_defenses:PoisonsItsInputs"), compare_clean=False
    )
    plain = run_scenario(replace(TINY, defense="fedavg"), compare_clean=False)
    assert poisoned["final"]["ndcg@10"] > 0
    assert not any(r["skipped_step"] for r in poisoned["rounds"])
    assert poisoned["final"]["ndcg@10"] == pytest.approx(plain["final"]["ndcg@10"], abs=0.05)


def test_a_global_model_that_is_not_finite_fails_the_run():
    world = build_world(TINY)
    federation = world.federation(users=world.init_users.clone())
    record = federation.step(0)
    federation.global_params[3] = float("inf")
    with pytest.raises(RunFailed, match="round 1: the global model holds NaN or Inf"):
        federation.evaluate_if_due(record, rounds=1, eval_every=1)
    assert torch.isinf(federation.global_params).any()
