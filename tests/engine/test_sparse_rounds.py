"""A round on the columns clients changed computes exactly what a round on every column does.

The in-process engine keeps a vectorised trainer's updates on the item rows the
round's clients trained (``fedarena.updates``) and hands a column-wise rule only
those columns. Each case runs the same federation twice, once with trainers that
can only return dense parameters, and compares every round: the records (every metric)
bit for bit, the global parameters and the private user vectors (trained from them) to
within the weighted mean's rounding. The mean is a BLAS product whose summation order
may depend on how many columns it is given: on an AVX-512 CPU, ``w @ X[:, cols]``
differs from ``(w @ X)[cols]`` in the last bit of a few columns (5 of 1,000 at 8
clients), on an AVX2 CPU in none. Each case runs with the malicious clients in the benign
clients' lock-step group (the engine's choice where they train alike) and in a group of
their own (merged after training); the last test compares those two bit for bit.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fedarena.registry import ComponentSpec
from fedarena.scenario.world import build_world
from fedarena.training.local import SparseTrainer
from tiny import TINY


class DenseOnly:
    """A trainer without ``train_updates``: the engine then builds every column."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer

    def train(self, *args):
        return self.trainer.train(*args)


CASES = {
    "clean mean": {},
    "mf clean mean": {"model": "mf"},
    "label flip": {
        "attack": ComponentSpec("label_flip"),
        "malicious_fraction": 0.3,
    },
    "crafted updates": {
        "attack": ComponentSpec("sign_flip"),
        "malicious_fraction": 0.2,
    },
    "a rule that needs every column": {
        "attack": ComponentSpec("label_flip"),
        "malicious_fraction": 0.2,
        "defense": "median",
    },
    "an adaptive server step": {"strategy": ComponentSpec("fedavg_plus")},
}


def _rounds(scenario, dense: bool, apart: bool = False):
    """Every round's record, then the global parameters and user vectors; ``apart``: the
    malicious clients train with a trainer of their own, so in a group of their own."""
    world = build_world(scenario)
    federation = world.federation(users=world.init_users.clone())
    assert isinstance(federation.trainer, SparseTrainer)
    if apart:
        federation.attacker_trainer = world.attacker_trainer()
    if dense:
        federation.trainer = DenseOnly(federation.trainer)
        federation.attacker_trainer = DenseOnly(federation.attacker_trainer)
    records = []
    for t in range(scenario.rounds):
        record = federation.step(t)
        records.append({k: v for k, v in record.as_dict().items() if k != "seconds"})
    return records, federation.global_params, federation.users


@pytest.mark.parametrize("apart", [False, True], ids=["one group", "two groups merged"])
@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_changed_columns_round_equals_the_dense_round(fields, apart):
    scenario = dataclasses.replace(TINY, rounds=3, **fields)
    sparse_records, sparse_params, sparse_users = _rounds(scenario, dense=False, apart=apart)
    dense_records, dense_params, dense_users = _rounds(scenario, dense=True)
    assert sparse_records == dense_records
    # a few float32 ulps; the last line checks that the rounds moved the parameters at all
    torch.testing.assert_close(sparse_params, dense_params, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(sparse_users, dense_users, rtol=1e-6, atol=1e-7)
    assert not torch.equal(sparse_params, build_world(scenario).init_params)


POISONED_DATA_ONLY = {
    "label flip": {"attack": ComponentSpec("label_flip"), "malicious_fraction": 0.3},
    "sybil": {"attack": ComponentSpec("sybil"), "malicious_fraction": 0.3},
    "label flip, FedMF, per-item median": {
        "attack": ComponentSpec("label_flip"),
        "malicious_fraction": 0.3,
        "model": "mf",
        "defense": "median(per_item=true)",
    },
}


@pytest.mark.parametrize("fields", POISONED_DATA_ONLY.values(), ids=POISONED_DATA_ONLY.keys())
def test_malicious_clients_trained_beside_the_benign_ones_compute_what_they_do_apart(fields):
    """Where attackers train as benign clients do on poisoned data, the engine trains every
    client in one lock-step group: a client's numbers must not depend on who trains beside
    it, so the rounds equal those with the malicious clients in a group of their own, bit
    for bit (records, parameters, user vectors)."""
    scenario = dataclasses.replace(TINY, rounds=3, **fields)
    together = _rounds(scenario, dense=False)
    apart = _rounds(scenario, dense=False, apart=True)
    assert together[0] == apart[0]
    assert torch.equal(together[1], apart[1]) and torch.equal(together[2], apart[2])
    assert any(r["n_malicious_sampled"] for r in together[0]), "attackers took part"
