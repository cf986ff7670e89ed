"""FedAttack: hardest positives and negatives from the client's own scores, in both losses."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fedarena.attacks.fedattack import FedAttack
from fedarena.scenario.run import run_scenario
from fedarena.scenario.world import build_world
from fedarena.seeds import Stream, stream
from fedarena.training.local import LocalTraining, training_examples
from tiny import TINY

SCORES = np.array([0.3, 2.0, -1.0, 1.5, 0.0, -0.2])  # most liked: 1, then 3; least: 2


def test_bpr_pairs_become_least_liked_over_most_liked():
    local = LocalTraining(loss="bpr", negatives_per_positive=2)
    examples = training_examples(
        np.array([1, 4]), np.array([1.0, 1.0]), 6, local, np.random.default_rng(0)
    )
    items, labels, weights = FedAttack().poison_scored(examples, SCORES, local)
    n = len(items) // 2
    assert n == 4 and (items[:n] == 2).all()
    original = examples[0][:n]
    assert (items[n:] == np.where(original == 1, 3, 1)).all()  # skip the pair's own item
    assert labels is examples[1] and weights is examples[2]


def test_bce_positives_become_least_liked_and_negatives_the_most_liked_unseen():
    local = LocalTraining(loss="bce", negatives_per_positive=1)
    examples = (np.array([1, 5, 0, 4]), np.array([1.0, 0.0, 1.0, 0.0]), np.ones(4))
    items, _, _ = FedAttack().poison_scored(examples, SCORES, local)
    assert items.tolist() == [2, 3, 2, 3]  # 1 is a positive of the client: 3 is next


def test_a_malicious_client_is_given_its_scores_under_the_global_model():
    scenario = replace(TINY, model="mf", attack="fedattack", malicious_fraction=0.2, rounds=1)
    world = build_world(scenario)
    federation = world.federation(users=world.init_users.clone())
    client = int(np.flatnonzero(world.malicious)[0])
    user = federation.users[client : client + 1]
    items = federation.global_params.reshape(world.n_items, -1)
    torch.testing.assert_close(federation.scores(user), user @ items.T)
    local = federation.local
    scores = federation.scores(user)[0]
    poisoned, _ = federation.client_data.examples(0, client, local, scores)
    honest = training_examples(
        *world.population.train_log(client),
        world.n_items,
        local,
        stream(scenario.seed, Stream.CLIENT_DATA, 0, client),
    )
    expected = FedAttack().poison_scored(honest, scores.numpy(), local)
    assert np.array_equal(poisoned[0], expected[0])


@pytest.mark.parametrize("model", ["tower", "mf"])
def test_it_runs_on_both_models(model):
    result = run_scenario(replace(TINY, model=model, attack="fedattack", malicious_fraction=0.2))
    assert result["attack"]["acts_on"] == ["data"]
    assert {"hr@10_drop", "ndcg@10_drop"} <= set(result["final"])
