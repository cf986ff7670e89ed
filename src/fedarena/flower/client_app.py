"""fedarena shoppers as a Flower ``ClientApp`` (Message API).

A SuperNode hosts the shoppers of its partition (``fedarena.flower.hosting``).
For a ``train`` message naming shopper ``s`` in round ``t`` it does what the
in-process engine does for that shopper:

    data      = attack.poison(log_s)           if s is malicious
    w_s, u_s  = local training from w_t         (same rng as in-process; a malicious
                                                shopper skips the client-side defense)
    update    = w_s - w_t
    sent      = attack.craft([update])          if s is malicious and the attack knows nothing

and replies with ``sent``, the sample count it reports (the attack's
``report_examples`` if it is malicious, else ``n_train(s)``) and the loss. The private
embedding ``u_s`` is kept in the node's ``Context.state`` between rounds and
never leaves the node.

Only an attack whose ``knowledge`` is ``none`` (noise, garbage) crafts here:
it needs nothing but the client. Attacks that craft from the coalition's
updates (``own``) or from everyone's (``omniscient``) have their clients send
the honest, possibly poisoned, update and craft in the server-side adversary
hook (``fedarena.flower.adversary``). The one difference from the in-process
engine: a client-side craft draws from a generator seeded by (seed, round,
shopper) instead of the round's shared generator, so random crafts (Gaussian
noise) are the same in distribution, not in value, and the round's generator
reaches the defense undrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import Tensor

from fedarena.attacks import AttackContext
from fedarena.errors import FedarenaError
from fedarena.flower.adversary import CRAFTS_ON_SERVER
from fedarena.flower.hosting import NUM_PARTITIONS, PARTITION_ID, Partition
from fedarena.flower.logs import flower_logging
from fedarena.flower.messages import (
    CONFIG,
    NODE,
    PARAMS,
    TrainInstruction,
    params_from,
    reply_content,
)
from fedarena.model import scores_under
from fedarena.scenario.spec import Scenario
from fedarena.scenario.world import World, build_world
from fedarena.seeds import Stream, stream
from fedarena.training.local import Trainer, build_batches

USERS = "fedarena.private-embeddings"

app = ClientApp()


@dataclass(frozen=True)
class ShopperOutcome:
    """What one shopper's round produced: what it sends, its new embedding, its loss."""

    sent: Any
    user: Tensor
    loss: float


def train_shopper(
    world: World,
    trainers: Trainers,
    instruction: TrainInstruction,
    global_params: Tensor,
    user: Tensor,
) -> ShopperOutcome:
    """One shopper's local round (see the module docstring), bit for bit the in-process one."""
    scenario, shopper, t = world.scenario, instruction.shopper, instruction.round
    data = world.client_data()
    local = data.local_for(shopper, instruction.local)
    malicious = bool(world.malicious[shopper])
    scores = None
    if malicious and world.attack.uses_scores:
        scores = scores_under(world.tower, world.layout, global_params, user[None])[0]
    examples, rng = data.examples(t, shopper, local, scores)
    batches = build_batches([examples], local, [rng])
    trainer = trainers.attacker if malicious else trainers.benign
    result = trainer.train(global_params, user[None], batches, local)
    sent: Any = result.shared[0] - global_params
    if malicious and world.attack.knowledge not in CRAFTS_ON_SERVER:
        seed = stream(scenario.seed, Stream.CLIENT_CRAFT, t, shopper).integers(2**62)
        crafted = world.attack.craft(
            sent[None],
            torch.ones(1, dtype=torch.bool),
            AttackContext(
                round=t,
                global_params=global_params,
                n_clients=instruction.n_sampled,
                server_gain=instruction.server_gain,
                generator=torch.Generator().manual_seed(int(seed)),
            ),
        )
        sent = next(iter(crafted), None)
    return ShopperOutcome(sent=sent, user=result.users[0], loss=float(result.loss[0]))


@dataclass(frozen=True)
class Trainers:
    """The local training of benign shoppers (client-side defense included) and of
    malicious ones (plain: they do not follow the protocol)."""

    benign: Trainer
    attacker: Trainer


@lru_cache(maxsize=2)
def _client_side(scenario: Scenario) -> tuple[World, Trainers]:
    """The world and trainers of a scenario, built once per ClientApp process."""
    world = build_world(scenario)
    return world, Trainers(world.trainer(), world.attacker_trainer())


@app.query()
def describe(message: Message, context: Context) -> Message:
    """Tell the server which shoppers this node hosts."""
    partition = Partition.from_node_config(context.node_config)
    record = MetricRecord(
        {PARTITION_ID: partition.partition_id, NUM_PARTITIONS: partition.num_partitions}
    )
    return Message(RecordDict({NODE: record}), reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    """Train the shopper the message names; keep its private embedding in the node's state."""
    instruction = TrainInstruction.from_record(message.content[CONFIG])
    with flower_logging(instruction.verbose):
        # Clients run side by side in separate processes: one thread each.
        torch.set_num_threads(1)
        partition = Partition.from_node_config(context.node_config)
        shopper = instruction.shopper
        if not partition.hosts(shopper):
            raise FedarenaError(
                f"shopper {shopper} is not hosted by the SuperNode with {PARTITION_ID}="
                f"{partition.partition_id} and {NUM_PARTITIONS}={partition.num_partitions}"
            )
        world, trainers = _client_side(instruction.scenario)
        if USERS not in context.state:
            context.state[USERS] = ArrayRecord()
        embeddings = context.state[USERS]
        key = str(shopper)
        user = (
            torch.from_numpy(embeddings[key].numpy().copy())
            if key in embeddings
            else world.init_users[shopper].clone()
        )
        outcome = train_shopper(
            world, trainers, instruction, params_from(message.content[PARAMS]), user
        )
        embeddings[key] = Array(outcome.user.detach().numpy())
        reported = world.client_data().reported_count(shopper)
        content = reply_content(outcome.sent, reported, outcome.loss)
        return Message(content, reply_to=message)
