"""FedProx: the proximal term reaches local training; mu = 0 is FedAvg exactly."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from fedarena.errors import SpecError
from fedarena.scenario.run import run_scenario
from fedarena.strategies import STRATEGIES
from fedarena.training.local import LocalTraining, build_batches, training_examples
from fedarena.training.vectorised import VectorisedTrainer
from tiny import TINY

SMALL = replace(TINY, rounds=3, local_epochs=3)


def test_configure_local_sets_mu_and_nothing_else():
    local = LocalTraining(epochs=2, batch_size=32, lr=0.01, optimizer="sgd")
    configured = STRATEGIES.create("fedprox(mu=0.3)").configure_local(local)
    assert configured.prox_mu == 0.3
    assert configured == LocalTraining(
        epochs=2, batch_size=32, lr=0.01, optimizer="sgd", prox_mu=0.3
    )


def test_mu_zero_is_fedavg_exactly():
    fedavg = run_scenario(replace(SMALL, strategy="fedavg"))
    fedprox = run_scenario(replace(SMALL, strategy="fedprox(mu=0)"))
    assert fedprox["rounds"][-1]["train_loss"] == fedavg["rounds"][-1]["train_loss"]
    for key in ("ndcg@10", "hr@10", "auc"):
        assert fedprox["final"][key] == fedavg["final"][key]


def test_a_larger_mu_keeps_clients_closer_to_the_global_model(model, population):
    tower, layout, init, users = model
    clients = np.arange(6)
    trainer = VectorisedTrainer(tower, layout)

    def mean_update_norm(mu: float) -> float:
        local = STRATEGIES.create(f"fedprox(mu={mu})").configure_local(
            LocalTraining(epochs=2, batch_size=16, lr=0.5, optimizer="sgd")
        )
        rngs = [np.random.default_rng([3, int(c)]) for c in clients]
        data = [
            training_examples(*population.train_log(int(c)), len(tower.item_bias), local, r)
            for c, r in zip(clients, rngs, strict=True)
        ]
        result = trainer.train(init, users[clients], build_batches(data, local, rngs), local)
        return float((result.shared - init).norm(dim=1).mean())

    norms = [mean_update_norm(mu) for mu in (0.0, 0.1, 1.0)]
    assert norms[0] > norms[1] > norms[2]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("fedprox(mu=-0.1)", "mu must be >= 0, got -0.1"),
        ("fedprox(mu=fast)", "mu must be a number, got 'fast'"),
        ("fedprox(prox=1)", "its options: mu, server_lr"),
    ],
)
def test_bad_mu_is_a_one_line_error(spec, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        STRATEGIES.create(spec)
