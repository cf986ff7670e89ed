"""``Defended``: a fedarena defense inside a plain Flower app (tests/flower/plain_flower_app).

The app's model is 4 numbers; every client pulls it towards ones except client 0, which
sends a huge update. Fast tests run the app's strategy over an in-process grid; the slow
one runs the App itself with ``flwr run`` on a local simulation SuperLink, as a user would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from flower_local_grid import LocalGrid
from flwr.app import Array, ArrayRecord, Message, MetricRecord
from flwr.serverapp.strategy import FedAdam, FedAvg

from fedarena.errors import FedarenaError
from fedarena.flower.defended import Defended

APP = Path(__file__).parent / "plain_flower_app"
DOCS = Path(__file__).parents[2] / "docs" / "flower.md"
sys.path.insert(0, str(APP))
import plain_app  # noqa: E402

N_CLIENTS = 6


def _grid(client=plain_app.client) -> LocalGrid:
    return LocalGrid(client, [{"partition-id": k} for k in range(N_CLIENTS)])


def test_krum_through_the_adapter_ignores_the_huge_update_fedavg_does_not():
    fedavg = plain_app.run(_grid(), defense="", f=1, rounds=2)
    krum = plain_app.run(_grid(), defense="krum", f=1, rounds=2)
    assert np.abs(fedavg).min() > 1e4
    np.testing.assert_allclose(krum, np.full(plain_app.DIM, 0.75), atol=1e-5)


def test_a_chain_clips_then_picks():
    w = plain_app.run(_grid(), defense="norm_clip(max_norm=1) > median", f=1, rounds=1)
    np.testing.assert_allclose(w, np.full(plain_app.DIM, 0.5), atol=1e-5)


def test_the_wrapped_strategy_keeps_its_server_step():
    def adam() -> FedAdam:
        return FedAdam(fraction_train=1.0, fraction_evaluate=0.0, eta=0.1)

    initial = ArrayRecord({"w": Array(np.zeros(plain_app.DIM, dtype=np.float32))})
    defended = Defended(adam(), "krum", f=1).start(_grid(), initial, num_rounds=2)
    honest_only = LocalGrid(plain_app.client, [{"partition-id": k} for k in range(1, N_CLIENTS)])
    plain = adam().start(honest_only, initial, num_rounds=2)
    # FedAdam's optimiser steps from the defended mean as it does from the honest clients'.
    np.testing.assert_allclose(defended.arrays["w"].numpy(), plain.arrays["w"].numpy(), rtol=1e-5)
    assert not np.allclose(defended.arrays["w"].numpy(), 0.75)


def test_a_reply_of_the_wrong_shape_or_weight_is_rejected_not_a_crash():
    def bad(message: Message, context) -> Message:
        reply = plain_app.train(message, context)
        if context.node_config["partition-id"] == 1:
            reply.content["arrays"] = ArrayRecord({"w": Array(np.ones(3, dtype=np.float32))})
        if context.node_config["partition-id"] == 2:
            reply.content["metrics"] = MetricRecord({"num-examples": -5})
        return reply

    client = type(plain_app.client)()
    client.train()(bad)
    strategy = Defended(FedAvg(fraction_train=1.0, fraction_evaluate=0.0), "median", f=3)
    initial = ArrayRecord({"w": Array(np.zeros(plain_app.DIM, dtype=np.float32))})
    w = strategy.start(_grid(client), initial, num_rounds=1).arrays["w"].numpy()
    np.testing.assert_allclose(w, np.full(plain_app.DIM, 0.5), atol=1e-5)
    assert [strategy.last_accepted[1000 + k] for k in (1, 2)] == [False, False]


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(FedarenaError, match="f must be an integer >= 0, got -1"):
        Defended(FedAvg(), "krum", f=-1)
    with pytest.raises(FedarenaError, match="needs fedarena's simulation"):
        Defended(FedAvg(), "fltrust", f=1)
    with pytest.raises(FedarenaError, match=r"round 1: defense 'krum' cannot aggregate 6"):
        plain_app.run(_grid(), defense="krum", f=3, rounds=1)


def test_the_docs_show_the_code_the_app_runs():
    docs = DOCS.read_text()
    source = (APP / "plain_app.py").read_text()
    for line in (
        "strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0)",
        "strategy = Defended(strategy, defense, f=f)",
        "from fedarena.flower.defended import Defended",
    ):
        assert line in source and line in docs


@pytest.mark.slow
def test_the_plain_app_under_flwr_run_on_a_local_simulation(tmp_path):
    from fedarena.flower.local_simulation import run_app

    out = tmp_path / "w.json"
    with open(tmp_path / "flower.log", "wb") as log:
        run_app(APP, N_CLIENTS, {"defense": "krum", "f": 1, "rounds": 2, "out": str(out)}, log)
    assert out.exists(), (tmp_path / "flower.log").read_text()[-3000:]
    np.testing.assert_allclose(json.loads(out.read_text()), np.full(plain_app.DIM, 0.75), atol=1e-5)
