"""Any fedarena defense and strategy as a Flower strategy (``flwr.serverapp.strategy.Strategy``).

Round ``t`` (Flower's round ``t + 1``), as ``Strategy.start`` drives it:

- ``configure_train``: ``Federation.plan_round`` samples shoppers (the same
  draws as in-process), and each sampled shopper's SuperNode gets
  a ``train`` message with the global parameters and a ``TrainInstruction``.
- ``aggregate_train``: the replies are decoded without trust, an omniscient
  attack crafts through the server-side adversary hook, then
  ``Federation.finish_round`` screens, defends and steps exactly as
  in-process. A reply that is a Flower error stops the run with the
  client's reason. A client that has not replied within the round's timeout
  (``round_timeout``) is dropped from the round: the round goes on with the
  clients that answered, and the strategy records the silent shoppers and
  their SuperNodes (``dropped``) and logs them (logger ``fedarena.flower``).
- evaluation is the benchmark's, on the server (``evaluate``, passed to
  ``Strategy.start`` as ``evaluate_fn``): the benign shoppers' held-out
  purchases scored with the in-process ``Evaluator``. There is no federated
  evaluation round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from logging import INFO

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedarena.attacks import AttackContext
from fedarena.engine.federation import Federation, RoundPlan, RoundRecord
from fedarena.errors import FedarenaError
from fedarena.flower.adversary import craft_on_server
from fedarena.flower.messages import (
    CONFIG,
    PARAMS,
    TrainInstruction,
    decoded_update,
    params_record,
    reported_loss,
    reported_weight,
)
from fedarena.scenario.spec import Scenario

ROUND_TIMEOUT_S = 300.0

log_drops = logging.getLogger("fedarena.flower")


@dataclass(frozen=True)
class _Round:
    """What ``configure_train`` decided, for ``aggregate_train`` to use."""

    plan: RoundPlan
    messages: list[Message]


@dataclass(frozen=True)
class Dropped:
    """The sampled shoppers of one round whose replies did not arrive in time, and their
    SuperNodes."""

    shoppers: list[int]
    nodes: list[int]


class FedarenaStrategy(Strategy):
    """A fedarena round (sampling, defense, server step) on Flower's Message API.

    ``federation`` holds the server's state and components; ``nodes`` maps each
    shopper to the SuperNode hosting it; ``on_round`` receives every round's
    record once it is evaluated (the CLI's progress bar); ``round_timeout`` is
    how many seconds a round waits for replies (pass it to ``start``).
    """

    def __init__(
        self,
        scenario: Scenario,
        federation: Federation,
        nodes: dict[int, int],
        on_round: Callable[[RoundRecord], None] | None = None,
        verbose: bool = False,
        round_timeout: float = ROUND_TIMEOUT_S,
    ) -> None:
        self.scenario = scenario
        self.federation = federation
        self.nodes = nodes
        self.on_round = on_round
        self.verbose = verbose
        self.round_timeout = round_timeout
        self.dropped: dict[int, Dropped] = {}
        self._round: _Round | None = None

    def summary(self) -> None:
        fed = self.federation
        log(
            INFO,
            "\tfedarena: %s shoppers, %s per round, attack %s, defense %s, strategy %s",
            len(fed.population),
            fed.clients_per_round,
            self.scenario.attack,
            self.scenario.defense,
            self.scenario.strategy,
        )

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Sample shoppers as in-process and address each one's SuperNode."""
        fed = self.federation
        plan = fed.plan_round(server_round - 1)
        messages = [
            Message(
                RecordDict(
                    {
                        PARAMS: arrays,
                        CONFIG: TrainInstruction(
                            scenario=self.scenario,
                            round=plan.round,
                            shopper=int(c),
                            n_sampled=len(plan.clients),
                            server_gain=fed.server_gain,
                            local=plan.local,
                            verbose=self.verbose,
                        ).record(),
                    }
                ),
                dst_node_id=self.nodes[int(c)],
                message_type=MessageType.TRAIN,
            )
            for c in plan.clients
        ]
        self._round = _Round(plan, messages)
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Decode, let an omniscient attack craft, then screen, defend and step."""
        current = self._round
        if current is None or current.plan.round != server_round - 1:
            raise FedarenaError(f"round {server_round}: replies arrived for an unconfigured round")
        fed = self.federation
        plan = current.plan
        clients = plan.clients
        position = {m.metadata.message_id: i for i, m in enumerate(current.messages)}
        sent: list[object] = [None] * len(clients)
        weights: list[float | None] = [None] * len(clients)
        losses = [float("nan")] * len(clients)
        answered = np.zeros(len(clients), dtype=bool)
        for reply in replies:
            i = position.get(reply.metadata.reply_to_message_id)
            if i is None:
                continue
            if reply.has_error():
                raise FedarenaError(
                    f"round {plan.round}: the client of shopper {clients[i]} failed: "
                    f"{_summary(reply.error.reason)}"
                )
            sent[i] = decoded_update(reply.content)
            weights[i] = reported_weight(reply.content)
            losses[i] = reported_loss(reply.content)
            answered[i] = True
        if not answered.any():
            raise FedarenaError(
                f"round {plan.round}: none of the {len(clients)} sampled clients replied "
                f"within round_timeout={self.round_timeout:g} s"
            )
        if not answered.all():
            self._drop(plan.round, clients[~answered])
            plan = replace(plan, clients=clients[answered])
            clients = plan.clients
            sent = [u for u, ok in zip(sent, answered, strict=True) if ok]
            weights = [w for w, ok in zip(weights, answered, strict=True) if ok]
            losses = [x for x, ok in zip(losses, answered, strict=True) if ok]
        is_malicious = torch.from_numpy(fed.malicious[clients])
        sent = craft_on_server(
            fed.attack,
            sent,
            is_malicious,
            len(fed.global_params),
            AttackContext(
                round=plan.round,
                global_params=fed.global_params,
                n_clients=len(clients),
                server_gain=fed.server_gain,
                generator=plan.generator,
            ),
        )
        record = fed.finish_round(plan, sent, weights, torch.tensor(losses, dtype=torch.float32))
        metrics = MetricRecord(
            {
                "train-loss": record.train_loss,
                "n-rejected": record.n_rejected,
                "flagged": record.flagged,
            }
        )
        return params_record(fed.global_params), metrics

    def _drop(self, round: int, silent: np.ndarray) -> None:
        """Record and log the shoppers (and their SuperNodes) that did not reply in time."""
        shoppers = [int(s) for s in silent]
        nodes = sorted({self.nodes[s] for s in shoppers})
        self.dropped[round] = Dropped(shoppers, nodes)
        log_drops.warning(
            "fedarena round %d: dropped %d silent client(s), no reply within %g s: "
            "shoppers %s on SuperNodes %s",
            round + 1,
            len(shoppers),
            self.round_timeout,
            shoppers,
            nodes,
        )

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """No federated evaluation: the benchmark scores on the server (``evaluate``)."""
        return []

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        return None

    def evaluate(self, server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        """Score the global model when the scenario says so and report the round."""
        if server_round == 0:
            return None
        fed = self.federation
        record = fed.history[-1]
        fed.evaluate_if_due(record, self.scenario.rounds, self.scenario.eval_every)
        fed.report(record)
        if self.on_round is not None:
            self.on_round(record)
        numbers = {k: float(v) for k, v in record.metrics.items() if v is not None}
        return MetricRecord(numbers) if numbers else None


def _summary(reason: str) -> str:
    """The informative line of a Flower error reason.

    Under Ray the client's exception arrives wrapped in a traceback whose last
    line carries its message; a one-line reason is kept as it is.
    """
    lines = [line.strip() for line in reason.splitlines()]
    lines = [line for line in lines if line.strip("'<>")]
    return reason if len(lines) <= 1 else lines[-1]
