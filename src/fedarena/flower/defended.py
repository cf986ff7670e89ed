"""Any fedarena defense inside any Flower app: ``Defended(strategy, defense, f)``.

A wrapper around a Flower strategy (``flwr.serverapp.strategy``), in the style of
Flower's own differential-privacy wrappers, for a ServerApp that is not
fedarena's: its model is whatever ``ArrayRecord`` the app trains. Each round:

- ``configure_train`` is the wrapped strategy's; the wrapper keeps the global
  arrays it sends.
- ``aggregate_train`` flattens each reply's arrays into one vector, subtracts the
  global vector to get the client's update, and hands the round's updates to
  the defense with the reported ``num-examples`` (the strategy's
  ``weighted_by_key``) as weights and ``f`` as the assumed number of malicious
  clients. Every valid reply's arrays are then replaced by the defended model
  (global + aggregate) and the wrapped strategy aggregates those, so its own
  server step (FedAvg's mean, FedAdam's optimiser, ...) and its metric
  aggregation run unchanged.

A reply whose arrays do not match the global model's names and shapes, or whose
weight is not a finite number > 0, becomes a row of NaN: the defense rejects it
like any non-finite update. Defenses that need fedarena's simulation (a
clean root set, a client-side trainer) are refused: a plain app has neither.

>>> from flwr.serverapp.strategy import FedAvg
>>> Defended(FedAvg(), "norm_clip(max_norm=1) > krum", f=1)
Defended(FedAvg, 'norm_clip(max_norm=1) > krum', f=1)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from logging import INFO

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedarena.defenses import Aggregate, ClientSide, RoundContext, UsesRootSet, create_defense
from fedarena.defenses.base import HasRequirement
from fedarena.errors import FedarenaError

WEIGHT_KEY = "num-examples"


@dataclass(frozen=True)
class Layout:
    """The global model's arrays, in order: their names, shapes and dtypes."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]

    @classmethod
    def of(cls, arrays: ArrayRecord) -> Layout:
        numpy = [arrays[name].numpy() for name in arrays]
        return cls(tuple(arrays), tuple(a.shape for a in numpy), tuple(a.dtype for a in numpy))

    @property
    def size(self) -> int:
        return sum(int(np.prod(shape)) for shape in self.shapes)

    def flatten(self, arrays: ArrayRecord) -> np.ndarray | None:
        """The arrays as one float32 vector, or None when they are not this layout's."""
        if tuple(arrays) != self.names:
            return None
        parts = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            value = arrays[name].numpy()
            if value.shape != shape or not np.issubdtype(value.dtype, np.number):
                return None
            parts.append(value.astype(np.float32).ravel())
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def unflatten(self, vector: np.ndarray) -> ArrayRecord:
        """The vector cut back into this layout's arrays, each in its own dtype."""
        record, start = ArrayRecord(), 0
        for name, shape, dtype in zip(self.names, self.shapes, self.dtypes, strict=True):
            stop = start + int(np.prod(shape))
            record[name] = Array(np.asarray(vector[start:stop].reshape(shape).astype(dtype)))
            start = stop
        return record


class Defended(Strategy):
    """``strategy`` with its aggregation of client updates replaced by a fedarena defense.

    ``defense`` is a spec as fedarena's scenarios write it (``"krum"``,
    ``"norm_clip(max_norm=1) > trimmed_mean(beta=0.2)"``); ``f`` is the number
    of malicious clients the defense may assume among a round's replies;
    ``weighted_by_key`` names the reply metric holding the client's number of
    examples (default: the strategy's own ``weighted_by_key``, else
    ``num-examples``); ``seed`` seeds the defense's randomness.
    """

    def __init__(
        self,
        strategy: Strategy,
        defense: str,
        f: int = 0,
        weighted_by_key: str | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(f, bool) or not isinstance(f, int) or f < 0:
            raise FedarenaError(f"Defended: f must be an integer >= 0, got {f!r}")
        self.strategy = strategy
        self.spec = defense
        self.f = f
        self.defense = create_defense(defense, n_malicious=f, seed=seed)
        if isinstance(self.defense, (UsesRootSet, ClientSide)):
            raise FedarenaError(
                f"Defended: defense {defense!r} needs fedarena's simulation (a clean root set "
                "or a client-side trainer); use a server-side defense"
            )
        self.weighted_by_key = weighted_by_key or getattr(strategy, "weighted_by_key", WEIGHT_KEY)
        self.generator = torch.Generator().manual_seed(seed)
        self.current_arrays = ArrayRecord()
        self.last_accepted: dict[int, bool] = {}

    def __repr__(self) -> str:
        return f"Defended({type(self.strategy).__name__}, {self.spec!r}, f={self.f})"

    def summary(self) -> None:
        log(INFO, "\t├──> fedarena defense: %s (f=%d)", self.spec, self.f)
        self.strategy.summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """The wrapped strategy's messages; the global arrays are kept for the updates."""
        self.current_arrays = arrays
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Defend the round's updates, then let the wrapped strategy step from the result."""
        valid = [r for r in replies if not r.has_error() and r.content.array_records]
        if not valid:
            return self.strategy.aggregate_train(server_round, valid)
        layout = Layout.of(self.current_arrays)
        global_vector = layout.flatten(self.current_arrays)
        updates = np.full((len(valid), layout.size), np.nan, dtype=np.float32)
        weights = np.ones(len(valid), dtype=np.float32)
        for i, reply in enumerate(valid):
            arrays = _arrays_of(reply)
            weight = _weight_of(reply, self.weighted_by_key)
            vector = None if arrays is None else layout.flatten(arrays)
            if vector is not None and weight is not None:
                updates[i] = vector - global_vector
                weights[i] = weight
        senders = np.array([r.metadata.src_node_id for r in valid], dtype=np.uint64)
        aggregate = self._defend(
            server_round,
            torch.from_numpy(updates),
            torch.from_numpy(weights),
            senders,
            torch.from_numpy(global_vector.copy()),
        )
        accepted = aggregate.accepted
        self.last_accepted = {
            int(node): bool(accepted[i]) if accepted is not None else True
            for i, node in enumerate(senders)
        }
        defended = layout.unflatten(global_vector + aggregate.update.numpy())
        for reply in valid:
            for name in list(reply.content.array_records):
                reply.content[name] = defended
        return self.strategy.aggregate_train(server_round, valid)

    def _defend(
        self,
        server_round: int,
        updates: torch.Tensor,
        weights: torch.Tensor,
        senders: np.ndarray,
        global_params: torch.Tensor,
    ) -> Aggregate:
        """The defense's aggregate of one round's updates, its precondition checked first."""
        if isinstance(self.defense, HasRequirement):
            try:
                self.defense.check(len(updates), self.f)
            except ValueError as err:
                raise FedarenaError(
                    f"round {server_round}: defense {self.spec!r} cannot aggregate "
                    f"{len(updates)} replies: {err}"
                ) from None
        ctx = RoundContext(
            round=server_round - 1,
            n_malicious=self.f,
            client_ids=senders,
            global_params=global_params,
            generator=self.generator,
        )
        return self.defense.aggregate(updates, weights, ctx)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)


def _arrays_of(reply: Message) -> ArrayRecord | None:
    """The reply's one ArrayRecord (None when it holds several: which would be the model?)."""
    records = list(reply.content.array_records.values())
    return records[0] if len(records) == 1 else None


def _weight_of(reply: Message, key: str) -> float | None:
    """The reply's reported number of examples, if it is a finite number > 0."""
    for record in reply.content.metric_records.values():
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) if np.isfinite(value) and value > 0 else None
    return None
