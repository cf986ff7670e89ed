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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedarena import __version__, baselines
from fedarena.attacks import ATTACKS
from fedarena.compression import COMPRESSORS
from fedarena.data.amazon import load_amazon
from fedarena.data.builtin import generate_catalog
from fedarena.data.catalog import Catalog
from fedarena.data.noniid import noniid_stats
from fedarena.data.shoppers import PopulationConfig, simulate_population
from fedarena.defenses import create_defense
from fedarena.engine.evaluation import Evaluator
from fedarena.engine.federation import Federation, RoundRecord
from fedarena.engine.sequential import SequentialTrainer
from fedarena.engine.vectorised import VectorisedTrainer
from fedarena.errors import SpecError
from fedarena.metrics import METRIC_KEYS
from fedarena.model import ItemTower, SharedLayout, init_user_embeddings
from fedarena.scenarios.spec import Scenario
from fedarena.strategies import STRATEGIES

SCHEMA = "fedarena.run/1"
LOCAL_ONLY_EPOCHS = 10


def load_catalog(scenario: Scenario) -> Catalog:
    """The built-in catalog, or ``scenario.items`` items sampled from an Amazon path."""
    if scenario.catalog == "builtin":
        return generate_catalog(scenario.items, seed=0)
    catalog, _ = load_amazon(Path(scenario.catalog))
    if len(catalog) > scenario.items:
        rng = np.random.default_rng([scenario.seed, 0xCA7])
        catalog = catalog.take(np.sort(rng.choice(len(catalog), scenario.items, replace=False)))
    return catalog


def detection(history: list[RoundRecord]) -> dict[str, float | None]:
    """Precision and recall of the defense's flags against the true malicious clients.

    ``None`` where undefined: precision when nothing was flagged, recall when
    no malicious client was sampled.
    """
    flagged = sum(r.flagged for r in history)
    hits = sum(r.true_positives for r in history)
    malicious = sum(r.n_malicious_sampled for r in history)
    return {
        "detection_precision": hits / flagged if flagged else None,
        "detection_recall": hits / malicious if malicious else None,
    }


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
    torch.manual_seed(scenario.seed)
    start = time.perf_counter()
    catalog = load_catalog(scenario)
    population_config = PopulationConfig(n_shoppers=scenario.shoppers, alpha=scenario.alpha)
    population = simulate_population(catalog, population_config, scenario.seed)
    n_malicious = round(scenario.malicious_fraction * len(population))
    f_per_round = round(scenario.malicious_fraction * scenario.clients_per_round)
    context = {"n_malicious": f_per_round, "n_clients": scenario.clients_per_round}
    attack = ATTACKS.create(scenario.attack, **context, seed=scenario.seed, catalog=catalog)
    defense = create_defense(scenario.defense, **context, seed=scenario.seed)
    strategy = STRATEGIES.create(scenario.strategy, **context, seed=scenario.seed)
    compressor = COMPRESSORS.create(scenario.compression, seed=scenario.seed)
    rng = np.random.default_rng([scenario.seed, 0xA77])
    population, malicious_ids = attack.enrol(population, catalog, n_malicious, rng)
    if scenario.clients_per_round > len(population):
        raise SpecError(
            f"clients_per_round ({scenario.clients_per_round}) exceeds the "
            f"{len(population)} shoppers with a held-out purchase"
        )
    malicious = np.zeros(len(population), dtype=bool)
    malicious[malicious_ids] = True
    benign = np.flatnonzero(~malicious)
    root_shoppers = int(getattr(defense, "root_shoppers", 0))
    root = (
        simulate_population(
            catalog, replace(population_config, n_shoppers=root_shoppers), scenario.seed + 10_007
        )
        if root_shoppers
        else None
    )

    generator = torch.Generator().manual_seed(scenario.seed)
    tower = ItemTower(catalog, dim=scenario.dim)
    tower.reset_parameters(generator)
    layout = SharedLayout.of(tower)
    init = layout.flatten(tower)
    users = init_user_embeddings(len(population), scenario.dim, generator)
    local = scenario.local_training()
    evaluator = Evaluator(tower, layout, population, benign, local, scenario.seed)
    trainer_type = VectorisedTrainer if scenario.engine == "vectorised" else SequentialTrainer
    trainer = trainer_type(tower, layout)
    if hasattr(defense, "client_trainer"):
        trainer = defense.client_trainer(tower, layout, trainer)
    federation = Federation(
        population=population,
        malicious=malicious,
        users=users.clone(),
        global_params=init.clone(),
        trainer=trainer,
        evaluator=evaluator,
        attack=attack,
        defense=defense,
        strategy=strategy,
        local=local,
        clients_per_round=scenario.clients_per_round,
        n_malicious_assumed=f_per_round,
        server_lr=float(getattr(strategy, "server_lr", 1.0)),
        seed=scenario.seed,
        compressor=compressor,
        root=root,
    )
    setup_s = time.perf_counter() - start
    history = federation.run(scenario.rounds, scenario.eval_every, on_round)
    federated_s = time.perf_counter() - start - setup_s

    reference = {}
    if scenario.baselines:
        reference = {
            "popularity": baselines.popularity(population, benign, scenario.seed),
            "local": baselines.local_only(
                tower,
                layout,
                init,
                users,
                population,
                benign,
                replace(local, epochs=LOCAL_ONLY_EPOCHS),
                scenario.seed,
            ),
            "centralised": baselines.centralised(
                tower, layout, init, users, population, evaluator, local, scenario.seed
            ),
        }
    final = dict(history[-1].metrics)
    final |= detection(history)
    final["bytes_per_client_per_round"] = float(np.mean([r.bytes_per_client for r in history]))
    if hasattr(defense, "privacy"):
        final |= defense.privacy(federation)
    wall_s = time.perf_counter() - start
    return {
        "schema": SCHEMA,
        "fedarena_version": __version__,
        "spec": scenario.to_dict(),
        "attack": {
            "acts_on": sorted(attack.acts_on),
            "knowledge": attack.knowledge,
            "goal": attack.goal,
            "target_items": [int(i) for i in attack.target_items],
        },
        "model": {"shared_parameters": layout.dim, "dim": scenario.dim},
        "population": {
            "shoppers": len(population),
            "excluded_without_test_purchase": population.n_excluded,
            "malicious": int(malicious.sum()),
            "items": len(catalog),
            **noniid_stats(population, catalog),
        },
        "final": final,
        "rounds": [r.as_dict() for r in history],
        "baselines": reference,
        "timings": {
            "wall_s": wall_s,
            "setup_s": setup_s,
            "federated_s": federated_s,
            "per_round_s": float(np.mean([r.seconds for r in history])),
            "baselines_s": wall_s - setup_s - federated_s,
        },
    }


def utility_drop(attacked: dict[str, Any], clean: dict[str, Any]) -> dict[str, float]:
    """The fall of each utility metric from the clean run to the attacked one."""
    return {f"{k}_drop": clean["final"][k] - attacked["final"][k] for k in METRIC_KEYS}
