"""Run one scenario end to end and return its result document (schema ``fedarena.run/1``).

An engine is a function ``(scenario, on_round, observer=None) -> result
document`` that runs the scenario once (``observer``, a
``fedarena.monitoring.RoundObserver``, is told every round). It is found by
the scenario's ``engine`` name: ``vectorised`` and ``sequential`` run in this
process (``run_in_process``); others are the entry points of the group
``fedarena.engines`` (fedarena's own ``flower`` runs a Flower federation in
Flower's simulation runtime, ``fedarena.flower.simulation``, loaded only when
used because Flower and Ray take seconds to import). ``run_scenario`` adds,
for every engine alike, the clean twin of an untargeted attack, and tells an
``on_phase`` callback when each stretch outside the rounds starts and ends
(set-up, the final metrics, the clean twin), so that no long stretch is silent.

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
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import torch

from fedarena.defenses import DEFENSES
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
SETUP, FINAL, CLEAN = "set-up", "final metrics", "clean comparison run"


@dataclass(frozen=True)
class Phase:
    """A stretch of a run outside its rounds (``SETUP``, ``FINAL`` or ``CLEAN``): told once
    when it starts (``seconds`` None) and once when it ends (``seconds`` it took). ``detail``
    says what it does (at the start) or where its time went (at the end)."""

    name: str
    seconds: float | None = None
    detail: str = ""


OnPhase = Callable[[Phase], None]


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
    on_phase: OnPhase | None = None,
    on_clean_round: OnRound | None = None,
) -> dict[str, Any]:
    """Simulate, federate, evaluate and compare with the baselines; deterministic in the seed.

    For an untargeted attack with ``compare_clean``, the same scenario is also
    run with ``attack = none`` (same seed, so the same shoppers and the same
    malicious set, behaving honestly) on the same engine, and ``final`` gains
    the utility drops ``<metric>_drop = clean - attacked`` (its seconds:
    ``timings.clean_s``). ``observer`` and ``on_round`` see the scenario's own
    rounds, ``on_clean_round`` the clean twin's; ``on_phase`` is told each
    ``Phase``.
    """
    run = engine(scenario.engine)
    phases = _Phases(scenario, on_phase or (lambda phase: None), on_round)
    with one_thread():
        result = run(scenario, phases.on_round, observer=observer)
        phases.finished(result["timings"])
        if compare_clean and result["attack"]["goal"] == "untargeted":
            start = time.perf_counter()
            phases.tell(Phase(CLEAN, detail="the same scenario with attack = none, same seed"))
            clean = run(replace(scenario, attack="none", baselines=False), on_clean_round)
            result["clean"] = {k: clean["final"][k] for k in METRIC_KEYS}
            result["final"] |= utility_drop(result, clean)
            result["timings"]["clean_s"] = time.perf_counter() - start
            phases.tell(Phase(CLEAN, result["timings"]["clean_s"]))
    return result


class _Phases:
    """Tells the set-up and final-metrics phases of one run from its round records, so that
    every engine's are told alike: the set-up ends at the first round, the final metrics
    start after the last."""

    def __init__(self, scenario: Scenario, tell: OnPhase, on_round: OnRound | None) -> None:
        self.scenario, self.tell, self.forward = scenario, tell, on_round
        self.start = time.perf_counter()
        detail = "building the catalog and the shoppers"
        if scenario.engine not in IN_PROCESS_ENGINES:
            detail += f", then starting the {scenario.engine} engine"
        self.tell(Phase(SETUP, detail=detail))
        self.seen = 0
        self.final_start = self.start

    def on_round(self, record: RoundRecord) -> None:
        self.seen += 1
        if self.seen == 1:  # the set-up ended when the first round began
            self.tell(Phase(SETUP, time.perf_counter() - self.start - record.seconds))
        if self.forward is not None:
            self.forward(record)
        if self.seen == self.scenario.rounds:
            self.final_start = time.perf_counter()
            kinds = (
                "popularity, local and centralised baselines"
                if self.scenario.baselines
                else "popularity baseline"
            )
            privacy = " and the privacy spent" if accounts_privacy(self.scenario) else ""
            self.tell(Phase(FINAL, detail=f"the {kinds}{privacy}"))

    def finished(self, timings: dict[str, float]) -> None:
        """The engine returned: the final metrics' end, with where their time went."""
        if self.seen < self.scenario.rounds:
            return
        spent = time.perf_counter() - self.final_start
        accounting = timings.get("accounting_s", 0.0)
        parts = [f"baselines {timings['baselines_s']:.1f} s"]
        if accounting >= 0.05:
            parts.append(f"privacy accounting {accounting:.1f} s")
        rest = spent - timings["baselines_s"] - accounting
        if rest >= 0.5:  # Flower: Ray's shutdown
            where = "the rest" if self.scenario.engine in IN_PROCESS_ENGINES else "engine shutdown"
            parts.append(f"{where} {rest:.1f} s")
        self.tell(Phase(FINAL, spent, ", ".join(parts)))


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


def accounts_privacy(scenario: Scenario) -> bool:
    """Whether a link of the scenario's defense spends privacy (DP: its accounting, at the
    end of a run, may take seconds)."""
    return any(
        callable(getattr(DEFENSES.factory(link.name), "accountant", None))
        for link in scenario.defense.links
    )
