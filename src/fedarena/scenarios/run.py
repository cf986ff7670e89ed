"""Run one scenario end to end and return its result document (schema ``fedarena.run/1``).

Optional parts of a defense, found by attribute so that plain aggregators
need none of them:

- ``root_shoppers: int``: the server holds that many clean simulated shoppers
  (FLTrust's root set); ``RoundContext.server_update`` trains on them.
- ``client_trainer(tower, layout, trainer) -> trainer``: a client-side part
  (DP-SGD) that replaces local training.
- ``privacy(federation) -> dict``: the privacy spent (``epsilon``, ``delta``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fedarena.engine.federation import RoundRecord
from fedarena.metrics import METRIC_KEYS
from fedarena.scenarios.result import Clock, run_document
from fedarena.scenarios.spec import Scenario
from fedarena.scenarios.world import build_world


def run_scenario(
    scenario: Scenario,
    on_round: Callable[[RoundRecord], None] | None = None,
    compare_clean: bool = True,
) -> dict[str, Any]:
    """Simulate, federate, evaluate and compare with the baselines; deterministic in the seed.

    For an untargeted attack with ``compare_clean``, the same scenario is also
    run with ``attack = none`` (same seed, so the same shoppers and the same
    malicious set, behaving honestly) and ``final`` gains the utility drops
    ``<metric>_drop = clean - attacked``.
    """
    if scenario.engine == "flower":
        # Imported here: only this engine needs Flower's simulation runtime (Ray).
        from fedarena.flower.simulation import run_flower

        return run_flower(scenario, on_round, compare_clean)
    result = _run_one(scenario, on_round)
    if compare_clean and result["attack"]["goal"] == "untargeted":
        clean = _run_one(replace(scenario, attack="none", baselines=False), None)
        result["clean"] = {k: clean["final"][k] for k in METRIC_KEYS}
        result["final"] |= utility_drop(result, clean)
    return result


def _run_one(scenario: Scenario, on_round: Callable[[RoundRecord], None] | None) -> dict[str, Any]:
    start = time.perf_counter()
    world = build_world(scenario)
    federation = world.federation(users=world.init_users.clone())
    setup_end = time.perf_counter()
    federation.run(scenario.rounds, scenario.eval_every, on_round)
    return run_document(world, federation, Clock(start, setup_end, time.perf_counter()))


def utility_drop(attacked: dict[str, Any], clean: dict[str, Any]) -> dict[str, float]:
    """The fall of each utility metric from the clean run to the attacked one."""
    return {f"{k}_drop": clean["final"][k] - attacked["final"][k] for k in METRIC_KEYS}
