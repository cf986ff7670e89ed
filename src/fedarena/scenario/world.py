"""Everything a scenario determines before round 0, rebuilt identically by every party.

A fedarena scenario is a pure function of its spec and seed: the catalog, the
shoppers, which of them are malicious, the initial model and the components.
The in-process engine builds them once (``fedarena.scenario.run``); in a
Flower federation the ServerApp and every ClientApp process rebuild the same
``World`` from the scenario they receive, so that shopper ``s`` holds the same
purchase log and the same initial private embedding wherever it runs.

Who uses what: a ClientApp reads only its own shoppers' logs, initial
embeddings and malicious flags, and the attack and defense objects; the
ServerApp uses the rest (components, the benign set for evaluation, the root
set of FLTrust-like defenses). The server never sees a trained private
embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fedarena.attacks import ATTACKS, Attack
from fedarena.compression import COMPRESSORS, Compressor
from fedarena.data import cache
from fedarena.data.amazon import load_amazon
from fedarena.data.builtin import generate_catalog
from fedarena.data.catalog import Catalog
from fedarena.data.logged import logged_world
from fedarena.data.shoppers import Population, PopulationConfig
from fedarena.defenses import (
    AccountingSetting,
    ClientSide,
    Defense,
    PrivacyAccounting,
    UsesRootSet,
    create_defense,
)
from fedarena.engine.assumed_f import AssumedF
from fedarena.engine.evaluation import Evaluator
from fedarena.engine.federation import ClientData, Federation
from fedarena.errors import SpecError
from fedarena.model import ItemRows, Recommender, SharedLayout, build_model, init_user_embeddings
from fedarena.scenario.spec import Scenario
from fedarena.seeds import (
    BUILTIN_CATALOG_SEED,
    ROOT_SEED_OFFSET,
    Stream,
    model_generator,
    stream,
)
from fedarena.strategies import STRATEGIES, Strategy
from fedarena.training.local import LocalTraining, Trainer
from fedarena.training.sequential import SequentialTrainer
from fedarena.training.vectorised import VectorisedTrainer


def load_catalog(scenario: Scenario) -> Catalog:
    """The built-in catalog, or ``scenario.items`` items sampled from an Amazon path (a
    simulated population's catalog; a logged one brings its own, ``load_population``)."""
    if scenario.catalog == "builtin":
        return generate_catalog(scenario.items, seed=BUILTIN_CATALOG_SEED)
    catalog, _ = load_amazon(Path(scenario.catalog))
    if len(catalog) > scenario.items:
        rng = stream(scenario.seed, Stream.CATALOG_SAMPLE)
        catalog = catalog.take(np.sort(rng.choice(len(catalog), scenario.items, replace=False)))
    return catalog


def load_population(scenario: Scenario, shoppers: int, seed: int) -> tuple[Catalog, Population]:
    """The catalog and ``shoppers`` shoppers of ``scenario``: simulated over its catalog (from
    the population cache when a matrix keeps one), or users of its interaction log."""
    if not scenario.simulated:
        return logged_world(scenario.population, shoppers, seed)
    catalog = load_catalog(scenario)
    config = PopulationConfig(n_shoppers=shoppers, alpha=scenario.alpha)
    return catalog, cache.population(catalog, config, seed)


@dataclass(frozen=True)
class World:
    """The deterministic set-up of one scenario (see the module docstring)."""

    scenario: Scenario
    catalog: Catalog
    population: Population
    malicious: np.ndarray
    attack: Attack
    defense: Defense
    strategy: Strategy
    compressor: Compressor
    tower: Recommender
    layout: SharedLayout
    init_params: Tensor
    init_users: Tensor
    local: LocalTraining
    assumed_f: AssumedF
    root: Population | None

    @property
    def benign(self) -> np.ndarray:
        """Ids of the honest shoppers, on whom every metric is computed."""
        return np.flatnonzero(~self.malicious)

    @property
    def n_items(self) -> int:
        return len(self.catalog)

    @property
    def server_gain(self) -> float:
        """The server step's gain on the aggregate, public to attacks (model replacement)."""
        return float(self.strategy.server_gain)

    def attacker_trainer(self) -> Trainer:
        """Local training as the scenario's engine does it, without any defense: what a
        malicious client runs (it does not follow the protocol).

        ``sequential`` selects the ``torch.optim`` reference; any other engine
        (``vectorised``, ``flower``) the vectorised trainer.
        """
        kind = SequentialTrainer if self.scenario.engine == "sequential" else VectorisedTrainer
        return kind(self.tower, self.layout)

    def trainer(self) -> Trainer:
        """What a benign client runs: the engine's training, wrapped by a client-side defense."""
        trainer = self.attacker_trainer()
        if isinstance(self.defense, ClientSide):
            trainer = self.defense.client_trainer(self.tower, self.layout, trainer)
        return trainer

    def client_data(self) -> ClientData:
        """What each client trains on, drawn as every engine draws it."""
        return ClientData(
            self.population, self.malicious, self.attack, self.n_items, self.scenario.seed
        )

    def evaluator(self) -> Evaluator:
        """The benchmark's scorer over the benign shoppers' held-out purchases."""
        return Evaluator(
            self.tower, self.layout, self.population, self.benign, self.local, self.scenario.seed
        )

    def federation(self, users: Tensor) -> Federation:
        """The round loop's state at round 0; ``users`` are the private embeddings it holds
        (all of them in-process, none on a Flower server)."""
        trainer = self.trainer()
        # the same object where no client-side defense wraps the benign one: the engine then
        # trains malicious and benign clients together where their options agree
        plain = not isinstance(self.defense, ClientSide)
        return Federation(
            population=self.population,
            malicious=self.malicious,
            users=users,
            global_params=self.init_params.clone(),
            trainer=trainer,
            attacker_trainer=trainer if plain else self.attacker_trainer(),
            evaluator=self.evaluator(),
            attack=self.attack,
            defense=self.defense,
            strategy=self.strategy,
            local=self.local,
            clients_per_round=self.scenario.clients_per_round,
            assumed_f=self.assumed_f,
            server_gain=self.server_gain,
            seed=self.scenario.seed,
            compressor=self.compressor,
            root=self.root,
            client_sampling=self.scenario.client_sampling,
            accountant=(
                self.defense.accountant(
                    AccountingSetting(self.population, self.local, self.scenario.clients_per_round)
                )
                if isinstance(self.defense, PrivacyAccounting)
                else None
            ),
        )


def build_world(scenario: Scenario) -> World:
    """Draw the scenario's world; every engine builds it this way."""
    torch.manual_seed(scenario.seed)
    catalog, population = load_population(scenario, scenario.shoppers, scenario.seed)
    n_malicious = round(scenario.malicious_fraction * len(population))
    per_round = scenario.clients_per_round
    tower = build_model(scenario.model, catalog, scenario.dim)  # uninitialised: drawn below
    layout = SharedLayout.of(tower)
    # An attack knows its own budget: its expected number of clients per round (ALIE's f).
    attack = ATTACKS.create(
        scenario.attack,
        n_clients=per_round,
        n_malicious=round(scenario.malicious_fraction * per_round),
        seed=scenario.seed,
        catalog=catalog,
        item_rows=ItemRows.of(layout),
        model=tower,
    )
    if attack.models is not None and scenario.model not in attack.models:
        raise SpecError(
            f"attack {scenario.attack.name} needs model {' or '.join(attack.models)}, "
            f"got model {scenario.model}"
        )
    rng = stream(scenario.seed, Stream.ENROLMENT)
    population, malicious_ids = attack.enrol(population, catalog, n_malicious, rng)
    if per_round > len(population):
        raise SpecError(
            f"clients_per_round ({per_round}) exceeds the "
            f"{len(population)} shoppers with a held-out purchase"
        )
    malicious = np.zeros(len(population), dtype=bool)
    malicious[malicious_ids] = True
    assumed_f = AssumedF.of(scenario.assumed_f, len(population), len(malicious_ids), per_round)
    context = {"n_malicious": assumed_f.fixed, "n_clients": per_round}
    defense = create_defense(
        scenario.defense, **context, seed=scenario.seed, item_rows=ItemRows.of(layout)
    )
    strategy = STRATEGIES.create(scenario.strategy, **context, seed=scenario.seed)
    compressor = COMPRESSORS.create(scenario.compression, seed=scenario.seed)
    root_shoppers = defense.root_shoppers if isinstance(defense, UsesRootSet) else 0
    root = (
        load_population(scenario, root_shoppers, scenario.seed + ROOT_SEED_OFFSET)[1]
        if root_shoppers
        else None
    )
    generator = model_generator(scenario.seed)
    tower.reset_parameters(generator)
    return World(
        scenario=scenario,
        catalog=catalog,
        population=population,
        malicious=malicious,
        attack=attack,
        defense=defense,
        strategy=strategy,
        compressor=compressor,
        tower=tower,
        layout=layout,
        init_params=layout.flatten(tower),
        init_users=init_user_embeddings(len(population), scenario.dim, generator),
        local=scenario.local_training(),
        assumed_f=assumed_f,
        root=root,
    )
