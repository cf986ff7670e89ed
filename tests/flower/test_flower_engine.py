"""The Flower adapters (ClientApp + Strategy + ServerApp) against the in-process engine.

Messages go through ``LocalGrid`` (a synchronous Grid in this process), so
these tests exercise every record, hook and state the Flower runtimes use,
without Ray or sockets. Tolerances: metrics 1e-6 and losses 1e-5 (relative);
the only arithmetic difference is that each client trains alone instead of
in a batch of clients (measured difference on these scenarios: 0).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from flower_local_grid import FIRST_NODE, LocalGrid
from flwr.app import Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp

from fedarena.engine.federation import Federation
from fedarena.errors import FedarenaError
from fedarena.flower import client_app
from fedarena.flower.messages import (
    CONFIG,
    METRICS,
    PARAMS,
    UPDATE,
    WEIGHT,
    TrainInstruction,
    params_record,
)
from fedarena.flower.server_app import serve
from fedarena.flower.strategy import _summary
from fedarena.metrics import METRIC_KEYS
from fedarena.scenario.run import run_scenario
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import build_world
from tiny import TINY

SMALL = replace(TINY, seed=3, rounds=3)
ROUND_KEYS = ("n_sampled", "n_malicious_sampled", "n_rejected", "skipped_step", "flagged")


def _flower(scenario: Scenario, grid_of=LocalGrid.one_node_per_shopper, app=client_app.app):
    world = build_world(scenario)
    grid = grid_of(app, len(world.population))
    return serve(grid, world), grid


def _assert_same_run(flower: dict, in_process: dict) -> None:
    for key in METRIC_KEYS:
        assert flower["final"][key] == pytest.approx(in_process["final"][key], abs=1e-6)
    for a, b in zip(flower["rounds"], in_process["rounds"], strict=True):
        assert {k: a[k] for k in ROUND_KEYS} == {k: b[k] for k in ROUND_KEYS}
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["bytes_per_client"] == b["bytes_per_client"]
    assert flower["spec"] == in_process["spec"]
    assert flower["population"] == in_process["population"]


@pytest.mark.parametrize(
    "attack",
    ["none", "flower_fakes:FlipLabels", "flower_fakes:ScaledFlip", "flower_fakes:AntiMean"],
    ids=["clean", "data-poisoning", "coalition-craft", "omniscient-craft"],
)
def test_flower_and_in_process_engines_give_the_same_run(attack):
    scenario = replace(SMALL, attack=attack, malicious_fraction=0.2)
    flower, _ = _flower(scenario)
    _assert_same_run(flower, run_scenario(scenario, compare_clean=False))
    assert sum(r["n_malicious_sampled"] for r in flower["rounds"]) > 0


def test_a_federation_of_logged_users_is_the_same_in_both_engines(tmp_path):
    rng = np.random.default_rng(5)
    rows = ["user,item,timestamp"]
    for user in range(30):
        items = rng.choice(220, size=rng.integers(4, 12), replace=False)
        rows += [f"u{user},i{item},{t}" for t, item in enumerate(items)]
    log = tmp_path / "log.csv"
    log.write_text("\n".join(rows) + "\n")
    scenario = replace(
        SMALL, population=str(log), items=Scenario().items, attack="sybil", malicious_fraction=0.2
    )
    flower, _ = _flower(scenario)
    _assert_same_run(flower, run_scenario(scenario, compare_clean=False))


@pytest.mark.parametrize(
    "model, defense",
    [
        ("mf", "krum(f=2, per_item=true)"),
        ("mf", "dp_sgd(noise_multiplier=1.0)"),
        ("ncf", "dp_sgd(noise_multiplier=1.0)"),
    ],
    ids=["mf-krum", "mf-dp", "ncf-dp"],
)
def test_the_fedrec_models_are_the_same_in_both_engines(model, defense):
    scenario = replace(SMALL, model=model, attack="sybil", malicious_fraction=0.2, defense=defense)
    flower, _ = _flower(scenario)
    _assert_same_run(flower, run_scenario(scenario, compare_clean=False))


@pytest.mark.parametrize(
    "attack, sampling, model",
    [
        ("a_hum", "epochs", "mf"),
        ("a_hum", "uniform", "ncf"),
        ("spattack(knowledge=omniscient, items=sampled)", "uniform", "mf"),
        ("fedattack", "uniform", "mf"),
    ],
    ids=["a_hum-epochs", "a_hum-ncf", "spattack", "fedattack"],
)
def test_fedrec_attacks_are_the_same_in_both_engines(attack, sampling, model):
    scenario = replace(
        SMALL,
        model=model,
        attack=attack,
        malicious_fraction=0.2,
        client_sampling=sampling,
        defense="median(per_item=true)",
    )
    flower, _ = _flower(scenario)
    _assert_same_run(flower, run_scenario(scenario, compare_clean=False))
    assert sum(r["n_malicious_sampled"] for r in flower["rounds"]) > 0


@pytest.mark.parametrize(
    "attack",
    [
        "model_replacement(report_examples=999)",
        "model_replacement(constrain_and_scale=2, stealth=true)",
        "sybil",
    ],
    ids=["reported-count", "stealth", "sybil"],
)
def test_the_threat_model_is_the_same_in_both_engines(attack):
    """Attackers skip DP-SGD, train with their own options and report their own counts in
    Flower exactly as in-process."""
    scenario = replace(
        SMALL, attack=attack, malicious_fraction=0.2, defense="dp_sgd(noise_multiplier=1.0)"
    )
    flower, _ = _flower(scenario)
    _assert_same_run(flower, run_scenario(scenario, compare_clean=False))
    assert sum(r["n_malicious_sampled"] for r in flower["rounds"]) > 0


def test_dp_sgd_noise_is_the_same_in_both_engines():
    """DP noise is seeded per (seed, round, client), not per trainer or process."""
    scenario = replace(SMALL, defense="dp_sgd(noise_multiplier=1.0, max_grad_norm=1.0)")
    flower, _ = _flower(scenario)
    in_process = run_scenario(scenario)
    _assert_same_run(flower, in_process)
    assert flower["final"]["epsilon_shopper"] == in_process["final"]["epsilon_shopper"]


def test_strategy_local_options_and_server_step_reach_the_clients():
    scenario = replace(SMALL, strategy="flower_fakes:ProxHalfStep")
    flower, grid = _flower(scenario)
    _assert_same_run(flower, run_scenario(scenario))
    instruction = TrainInstruction.from_record(grid.delivered[-1].content[CONFIG])
    assert instruction.local.prox_mu == 0.5 and instruction.server_gain == 0.5


def test_baselines_and_the_document_match_run_scenario():
    scenario = replace(SMALL, rounds=1, baselines=True)
    flower, _ = _flower(scenario)
    in_process = run_scenario(scenario)
    assert set(flower) == set(in_process)
    assert flower["baselines"] == in_process["baselines"]
    assert flower["attack"] == in_process["attack"] and flower["model"] == in_process["model"]


def test_where_shoppers_are_hosted_does_not_change_the_run():
    def three_nodes(app, n):
        return LocalGrid(app, [{"partition-id": k, "num-partitions": 3} for k in range(3)])

    spread, _ = _flower(SMALL)
    packed, grid = _flower(SMALL, three_nodes)
    assert packed["final"] == spread["final"]
    for node, context in grid.contexts.items():
        stored = context.state[client_app.USERS]
        assert all(int(s) % 3 == node - min(grid.contexts) for s in stored)


def test_private_embeddings_persist_on_the_nodes_and_never_travel():
    scenario = replace(SMALL, rounds=4, clients_per_round=20)
    world = build_world(scenario)
    grid = LocalGrid.one_node_per_shopper(client_app.app, len(world.population))
    serve(grid, world)
    # The in-process federation keeps every shopper's embedding in one tensor.
    reference = Federation(
        population=world.population,
        malicious=world.malicious,
        users=world.init_users.clone(),
        global_params=world.init_params.clone(),
        trainer=world.trainer(),
        attacker_trainer=world.attacker_trainer(),
        evaluator=world.evaluator(),
        attack=world.attack,
        defense=world.defense,
        strategy=world.strategy,
        local=world.local,
        clients_per_round=scenario.clients_per_round,
        assumed_f=world.assumed_f,
        server_gain=1.0,
        seed=scenario.seed,
        compressor=world.compressor,
    )
    reference.run(scenario.rounds, eval_every=scenario.rounds)
    trained_twice = np.flatnonzero(reference.participation >= 2)
    assert len(trained_twice) > 0
    for shopper, node in enumerate(sorted(grid.contexts)):
        state = grid.contexts[node].state
        if reference.participation[shopper] == 0:
            assert client_app.USERS not in state
            continue
        stored = torch.from_numpy(state[client_app.USERS][str(shopper)].numpy())
        torch.testing.assert_close(stored, reference.users[shopper], atol=1e-5, rtol=1e-4)
    # What the server received: one update of the shared size per reply, and two metrics.
    trains = [m for m in grid.delivered if m.metadata.message_type == MessageType.TRAIN]
    replies = [m for m in grid.replies_seen if m.metadata.message_type == MessageType.TRAIN]
    assert len(trains) == len(replies) == scenario.rounds * scenario.clients_per_round
    for message in trains:
        assert set(message.content.array_records) == {PARAMS}
    dim = world.layout.dim
    for reply in replies:
        assert set(reply.content.array_records) == {UPDATE}
        assert [a.shape for a in reply.content[UPDATE].values()] == [(dim,)]
        assert set(reply.content[METRICS]) == {WEIGHT, "train-loss"}


@pytest.mark.parametrize("kind", ["nan", "short", "int", "text", "huge"])
def test_garbage_from_clients_is_rejected_and_the_model_stays_finite(kind):
    scenario = replace(SMALL, attack=f"flower_fakes:Junk(kind={kind!r})", malicious_fraction=0.2)
    flower, _ = _flower(scenario)
    for record in flower["rounds"]:
        assert record["n_rejected"] == record["n_malicious_sampled"]
        assert record["flagged_malicious"] == record["n_malicious_sampled"]
        assert not record["skipped_step"]
    assert all(np.isfinite(flower["final"][k]) for k in METRIC_KEYS)
    assert flower["final"]["detection_recall"] == 1.0


def _tampered(change) -> ClientApp:
    """The fedarena ClientApp whose train replies pass through ``change``."""
    app = ClientApp()
    app.query()(client_app.describe)

    @app.train()
    def train(message: Message, context: Context) -> Message:
        return change(client_app.train(message, context), context)

    return app


def test_a_reported_weight_that_is_not_a_positive_number_rejects_the_update():
    def lie(reply: Message, context: Context) -> Message:
        if context.node_config["partition-id"] % 2:
            reply.content[METRICS][WEIGHT] = -5
        return reply

    flower, _ = _flower(SMALL, app=_tampered(lie))
    in_process = run_scenario(SMALL)
    assert [r["n_rejected"] for r in flower["rounds"]] != [0] * SMALL.rounds
    assert flower["final"]["ndcg@10"] != in_process["final"]["ndcg@10"]


def test_a_failing_client_stops_the_run_with_its_reason():
    def crash(reply: Message, context: Context) -> Message:
        raise RuntimeError("disk full")

    with pytest.raises(
        FedarenaError, match=r"round 0: the client of shopper \d+ failed.*disk full"
    ):
        _flower(SMALL, app=_tampered(crash))


def test_a_node_that_cannot_say_what_it_hosts_is_named():
    def no_partition(app, n):
        return LocalGrid(app, [{"num-partitions": 1}])

    with pytest.raises(FedarenaError, match=f"SuperNode {FIRST_NODE} cannot say what it hosts"):
        _flower(SMALL, no_partition)


def test_a_node_asked_for_a_shopper_it_does_not_host_refuses():
    world = build_world(SMALL)
    grid = LocalGrid(client_app.app, [{"partition-id": 1, "num-partitions": 2}])
    instruction = TrainInstruction(
        SMALL, round=0, shopper=4, n_sampled=10, server_gain=1.0, local=world.local
    )
    content = RecordDict({PARAMS: params_record(world.init_params), CONFIG: instruction.record()})
    message = Message(content, dst_node_id=FIRST_NODE, message_type=MessageType.TRAIN)
    (reply,) = grid.send_and_receive([message])
    assert reply.has_error() and "shopper 4 is not hosted" in reply.error.reason


def test_a_client_failure_reported_through_ray_is_summarised_by_its_message():
    reason = (
        "<class 'ray.exceptions.RayTaskError(ClientAppException)'>:<'ray::ClientAppActor.run()\n"
        'Traceback (most recent call last):\n  File "client_app.py", line 9\n'
        "Exception ClientAppException occurred. Message: disk full\n'>"
    )
    assert _summary(reason) == "Exception ClientAppException occurred. Message: disk full"


class Rounds:
    """A round observer that keeps what it is told."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def on_round(self, **values) -> None:
        self.seen.append(values)


def test_the_flower_server_reports_the_same_rounds_to_its_observer_as_in_process():
    scenario = replace(SMALL, attack="model_replacement", malicious_fraction=0.2)
    world = build_world(scenario)
    flower, in_process = Rounds(), Rounds()
    serve(
        LocalGrid.one_node_per_shopper(client_app.app, len(world.population)),
        world,
        observer=flower,
    )
    run_scenario(scenario, compare_clean=False, observer=in_process)
    assert [r["round"] for r in flower.seen] == list(range(1, scenario.rounds + 1))
    for a, b in zip(flower.seen, in_process.seen, strict=True):
        assert {k: a[k] for k in ("sampled", "rejected", "flagged")} == {
            k: b[k] for k in ("sampled", "rejected", "flagged")
        }
        assert a["malicious_norms"] == pytest.approx(b["malicious_norms"], rel=1e-5)
        assert a["metrics"]["ndcg@10"] == pytest.approx(b["metrics"]["ndcg@10"], abs=1e-6)
