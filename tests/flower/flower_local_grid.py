"""A Flower ``Grid`` that delivers each message straight to a ``ClientApp`` call, in-process.

For fast tests of the Flower adapters without Ray or network: one ``Context``
per node (its state persists across messages, as a SuperNode's does), messages
and replies deep-copied so that neither side shares objects with the other,
and a ClientApp exception turned into an error reply as Flower does.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from uuid import uuid4

from flwr.app import Context, Error, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

RUN_ID = 7
SERVER_NODE = 0
FIRST_NODE = 1000


class LocalGrid(Grid):
    """Nodes ``FIRST_NODE + k`` with ``--node-config`` ``node_configs[k]``."""

    def __init__(self, client_app: ClientApp, node_configs: list[dict]) -> None:
        # Message() reads the sender's identity from here, as in a ServerApp process.
        TaskIdentity.run_id = RUN_ID
        TaskIdentity.node_id = SERVER_NODE
        TaskIdentity.task_id = 1
        self.client_app = client_app
        self.contexts = {
            FIRST_NODE + k: Context(RUN_ID, FIRST_NODE + k, dict(config), RecordDict(), {})
            for k, config in enumerate(node_configs)
        }
        self.delivered: list[Message] = []
        self.replies_seen: list[Message] = []
        self._replies: dict[str, Message] = {}
        self._run = Run.create_empty(RUN_ID)

    @classmethod
    def one_node_per_shopper(cls, client_app: ClientApp, n_shoppers: int) -> LocalGrid:
        """The layout of Flower's simulation: node k hosts shopper k."""
        configs = [{"partition-id": k, "num-partitions": n_shoppers} for k in range(n_shoppers)]
        return cls(client_app, configs)

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid4())
            delivered = copy.deepcopy(message)
            self.delivered.append(delivered)
            context = self.contexts[message.metadata.dst_node_id]
            try:
                reply = self.client_app(delivered, context)
            except Exception as err:
                reply = Message(
                    Error(code=0, reason=f"{type(err).__name__}: {err}"), reply_to=delivered
                )
            self.replies_seen.append(reply)
            self._replies[message.metadata.message_id] = copy.deepcopy(reply)
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout=None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


class SilentNodeGrid(LocalGrid):
    """A ``LocalGrid`` whose node ``silent`` receives messages but never replies, after
    answering the discovery query (a SuperNode that hangs once the run started).

    Like Flower's grids, ``send_and_receive`` waits until ``timeout`` for missing replies
    and then returns those that came; ``timeouts`` records each wait asked for.
    """

    def __init__(self, client_app: ClientApp, node_configs: list[dict], silent: int) -> None:
        super().__init__(client_app, node_configs)
        self.silent = silent
        self.timeouts: list[float | None] = []

    def send_and_receive(self, messages: Iterable[Message], *, timeout=None) -> Iterable[Message]:
        messages = list(messages)
        self.timeouts.append(timeout)
        replies = list(super().send_and_receive(messages, timeout=timeout))
        kept = [
            r
            for r in replies
            if r.metadata.src_node_id != self.silent or r.metadata.message_type == MessageType.QUERY
        ]
        if len(kept) < len(messages) and timeout is not None:
            time.sleep(timeout)
        return kept
