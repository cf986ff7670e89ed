"""A finished run's result document (schema ``fedarena.run/1``, see ``docs/results.md``).

Built the same way for every engine; in Flower the baselines are computed on
the server from the same world, so they equal the in-process run's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fedarena import __version__
from fedarena.data.noniid import noniid_stats
from fedarena.engine import baselines
from fedarena.engine.detection import mean_auc
from fedarena.engine.federation import Federation, RoundRecord
from fedarena.scenario.baseline_cache import baseline
from fedarena.scenario.world import World

SCHEMA = "fedarena.run/1"
LOCAL_ONLY_EPOCHS = 10


@dataclass(frozen=True)
class Clock:
    """When the run started and when its set-up and federated rounds ended (perf_counter)."""

    start: float
    setup_end: float
    federated_end: float


def detection(history: list[RoundRecord], attacked: bool) -> dict[str, float | None]:
    """Precision and recall of the defense's flags against the true malicious clients, and
    the AUC of its suspicion score (``fedarena.engine.detection``), averaged over rounds.

    Reported only where an attack is present (``attacked``): without attackers every
    flag is a false alarm and there is nothing to detect. ``None`` where undefined:
    precision when nothing was flagged, recall when no malicious client was sampled,
    the AUC when the rule scores no one or no round had both kinds of client.
    """
    if not attacked:
        return {"detection_precision": None, "detection_recall": None, "detection_auc": None}
    flagged = sum(r.flagged for r in history)
    hits = sum(r.true_positives for r in history)
    malicious = sum(r.n_malicious_sampled for r in history)
    return {
        "detection_precision": hits / flagged if flagged else None,
        "detection_recall": hits / malicious if malicious else None,
        "detection_auc": mean_auc([r.suspicion_auc for r in history]),
    }


def reference_points(world: World, federation: Federation) -> dict[str, dict[str, float]]:
    """The baselines of ``run_scenario``: popularity always (it costs a count, and the
    leaderboard's utility scale starts at it), local-only and centralised when the scenario
    asks for ``baselines`` (trained once per world where a matrix keeps its folder,
    ``fedarena.scenario.baseline_cache``)."""
    seed, benign = world.scenario.seed, world.benign
    popular = {"popularity": baselines.popularity(world.population, benign, seed)}
    if not world.scenario.baselines:
        return popular
    local = replace(world.local, epochs=LOCAL_ONLY_EPOCHS)
    return {
        **popular,
        "local": baseline(
            "local",
            world,
            lambda: baselines.local_only(
                world.tower,
                world.layout,
                world.init_params,
                world.init_users,
                world.population,
                benign,
                local,
                seed,
            ),
        ),
        "centralised": baseline(
            "centralised",
            world,
            lambda: baselines.centralised(
                world.tower,
                world.layout,
                world.init_params,
                world.init_users,
                world.population,
                federation.evaluator,
                world.local,
                seed,
            ),
        ),
    }


def run_document(world: World, federation: Federation, clock: Clock) -> dict[str, Any]:
    """Final metrics, per-round records, baselines and timings of a finished run: the
    baselines' seconds and the privacy accounting's (DP defenses) are timed apart."""
    history = federation.history
    reference = reference_points(world, federation)
    baselines_end = time.perf_counter()
    final = dict(history[-1].metrics)
    attacked = world.attack.goal != "none" and bool(world.malicious.any())
    final |= detection(history, attacked)
    final["assumed_f_mean"] = float(np.mean([r.assumed_f for r in history]))
    final["requirement_unmet_rounds"] = sum(r.requirement_unmet for r in history)
    final["bytes_per_client_per_round"] = float(np.mean([r.bytes_per_client for r in history]))
    accounting_start = time.perf_counter()
    if federation.accountant is not None:
        final |= federation.accountant.spent()
    end = time.perf_counter()
    attack = world.attack
    return {
        "schema": SCHEMA,
        "fedarena_version": __version__,
        "spec": world.scenario.to_dict(),
        "attack": {
            "acts_on": sorted(attack.acts_on),
            "knowledge": attack.knowledge,
            "goal": attack.goal,
            "target_items": [int(i) for i in attack.target_items],
            "report_examples": attack.report_examples,
        },
        "threat_model": {
            "assumed_f": world.scenario.assumed_f,
            "assumed_f_at_setup": world.assumed_f.fixed,
            "malicious_skip_client_side_defense": True,
        },
        "model": {"shared_parameters": world.layout.dim, "dim": world.scenario.dim},
        "population": {
            "shoppers": len(world.population),
            "excluded_without_test_purchase": world.population.n_excluded,
            "malicious": int(world.malicious.sum()),
            "items": len(world.catalog),
            **noniid_stats(world.population, world.catalog),
        },
        "final": final,
        "rounds": [r.as_dict() for r in history],
        "baselines": reference,
        "timings": {
            "wall_s": end - clock.start,
            "setup_s": clock.setup_end - clock.start,
            "federated_s": clock.federated_end - clock.setup_end,
            "per_round_s": float(np.mean([r.seconds for r in history])),
            # Apart: a DP run's accounting took seconds that were shown as its baselines'.
            "baselines_s": baselines_end - clock.federated_end,
            "accounting_s": end - accounting_start,
        },
    }
