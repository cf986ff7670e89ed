"""Run one scenario end to end and return its result document (schema ``fedarena.run/1``).

An engine is a function ``(scenario, on_round, observer=None) -> result
document`` that runs the scenario once (``observer``, a
``fedarena.monitoring.RoundObserver``, is told every round). It is found by
the scenario's ``engine`` name: ``vectorised`` and ``sequential`` run in this
process (``run_in_process``); others are the entry points of the group
``fedarena.engines`` (fedarena's own ``flower`` runs a Flower federation in
Flower's simulation runtime, ``fedarena.flower.simulation``, loaded only when
used because Flower and Ray take seconds to import). ``run_scenario`` adds,
for every engine alike, the clean twin of an untargeted attack.

A run is a pure function of its scenario: ``run_scenario`` computes with one
torch thread whatever the caller set (a multi-threaded reduction adds in an
order that depends on the thread count, so 1 and 2 threads gave different
bits), and restores the caller's setting afterwards. Parallelism comes from
running cells side by side (``fedarena matrix --workers``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import torch

from fedarena.engine.federation import RoundRecord
from fedarena.errors import SpecError
from fedarena.metrics import METRIC_KEYS
from fedarena.monitoring.observers import RoundObserver
from fedarena.scenario.result import Clock, run_document
from fedarena.scenario.spec import IN_PROCESS_ENGINES, Scenario
from fedarena.scenario.world import build_world

OnRound = Callable[[RoundRecord], None]
Engine = Callable[..., dict[str, Any]]
ENGINE_GROUP = "fedarena.engines"


def run_in_process(
    scenario: Scenario, on_round: OnRound | None = None, observer: RoundObserver | None = None
) -> dict[str, Any]:
    """The engines ``vectorised`` and ``sequential``: every client trained in this process."""
    start = time.perf_counter()
    world = build_world(scenario)
    federation = world.federation(users=world.init_users.clone())
    federation.observer = observer
    setup_end = time.perf_counter()
    federation.run(scenario.rounds, scenario.eval_every, on_round)
    return run_document(world, federation, Clock(start, setup_end, time.perf_counter()))


@cache
def engine(name: str) -> Engine:
    """The engine registered as ``name``."""
    if name in IN_PROCESS_ENGINES:
        return run_in_process
    for point in entry_points(group=ENGINE_GROUP, name=name):
        try:
            return point.load()
        except Exception as err:  # a broken plugin is the user's input, not our crash
            raise SpecError(
                f"engine {name!r}: entry point {point.value} failed to load: {err}"
            ) from None
    raise SpecError(f"engine {name!r} is not installed (entry-point group {ENGINE_GROUP})")


def run_scenario(
    scenario: Scenario,
    on_round: OnRound | None = None,
    compare_clean: bool = True,
    observer: RoundObserver | None = None,
) -> dict[str, Any]:
    """Simulate, federate, evaluate and compare with the baselines; deterministic in the seed.

    For an untargeted attack with ``compare_clean``, the same scenario is also
    run with ``attack = none`` (same seed, so the same shoppers and the same
    malicious set, behaving honestly) on the same engine, and ``final`` gains
    the utility drops ``<metric>_drop = clean - attacked``. ``observer`` watches
    the scenario's own rounds, not the clean twin's.
    """
    run = engine(scenario.engine)
    with one_thread():
        result = run(scenario, on_round, observer=observer)
        if compare_clean and result["attack"]["goal"] == "untargeted":
            clean = run(replace(scenario, attack="none", baselines=False), None)
            result["clean"] = {k: clean["final"][k] for k in METRIC_KEYS}
            result["final"] |= utility_drop(result, clean)
    return result


@contextmanager
def one_thread() -> Iterator[None]:
    """Compute with one torch thread inside, the caller's thread count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def utility_drop(attacked: dict[str, Any], clean: dict[str, Any]) -> dict[str, float]:
    """The fall of each utility metric from the clean run to the attacked one."""
    return {f"{k}_drop": clean["final"][k] - attacked["final"][k] for k in METRIC_KEYS}
