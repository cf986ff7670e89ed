"""What travels in Flower messages: fedarena's instructions, parameters and updates as records.

A training round sends each sampled shopper's SuperNode one ``train`` message::

    "arrays": ArrayRecord {"params": w_t}              the global shared parameters
    "config": ConfigRecord  TrainInstruction fields      scenario, round, shopper, options

and the ClientApp replies with::

    "update":  ArrayRecord {"update": what it sends}    empty if it sent no tensor
    "metrics": MetricRecord {"num-examples", "train-loss"}

The server decodes replies without trusting them: anything that is not an
array comes back as ``None`` and dtype, shape and values are kept as sent, so
that ``fedarena.engine.guard`` judges a Flower update exactly as it judges an
in-process one. Decoding never raises.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict
from torch import Tensor

from fedarena.scenario.spec import Scenario
from fedarena.training.local import LocalTraining

PARAMS = "arrays"
CONFIG = "config"
UPDATE = "update"
METRICS = "metrics"
NODE = "node"
WEIGHT = "num-examples"
LOSS = "train-loss"


def params_record(flat: Tensor) -> ArrayRecord:
    """The global shared parameters (a float32 vector) as an ArrayRecord."""
    return ArrayRecord({"params": Array(flat.detach().cpu().numpy())})


def params_from(record: ArrayRecord) -> Tensor:
    """The float32 vector that ``params_record`` encoded."""
    return torch.from_numpy(record["params"].numpy().copy())


def update_record(sent: Any) -> ArrayRecord:
    """What a client sends, as it is: a tensor's array (any dtype or shape), else nothing."""
    if isinstance(sent, Tensor):
        try:
            return ArrayRecord({UPDATE: Array(sent.detach().cpu().numpy())})
        except (TypeError, RuntimeError):  # dtypes numpy cannot hold, e.g. bfloat16
            return ArrayRecord()
    return ArrayRecord()


def decoded_update(content: RecordDict) -> Tensor | None:
    """The tensor a reply carries, or ``None`` when it carries no readable array."""
    try:
        array = content.array_records[UPDATE][UPDATE].numpy()
        return torch.from_numpy(np.ascontiguousarray(array))
    # A malicious reply may hold anything; whatever fails to decode is simply not an update.
    except Exception:
        return None


def reported_weight(content: RecordDict) -> float | None:
    """The client's reported number of examples if it is a finite number > 0, else ``None``."""
    try:
        value = content.metric_records[METRICS][WEIGHT]
    except (KeyError, TypeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def reported_loss(content: RecordDict) -> float:
    """The client's reported mean training loss (NaN when absent or not a number)."""
    try:
        value = content.metric_records[METRICS][LOSS]
    except (KeyError, TypeError):
        return math.nan
    return float(value) if isinstance(value, int | float) else math.nan


def reply_content(sent: Any, n_examples: int, loss: float) -> RecordDict:
    """A train reply: the sent update, the weight the server gives it and the loss."""
    return RecordDict(
        {
            UPDATE: update_record(sent),
            METRICS: MetricRecord({WEIGHT: int(n_examples), LOSS: float(loss)}),
        }
    )


@dataclass(frozen=True)
class TrainInstruction:
    """What the server tells a SuperNode in a ``train`` message, beside the parameters.

    ``n_sampled`` and ``server_gain`` are what an attack's ``AttackContext`` needs
    (model replacement scales by them); ``local`` is the strategy's local-training
    options for this round (FedProx's mu); ``verbose`` turns Flower's logs on.
    """

    scenario: Scenario
    round: int
    shopper: int
    n_sampled: int
    server_gain: float
    local: LocalTraining
    verbose: bool = False

    def record(self) -> ConfigRecord:
        return ConfigRecord(
            {
                "scenario": json.dumps(self.scenario.to_dict(), sort_keys=True),
                "round": self.round,
                "shopper": self.shopper,
                "n-sampled": self.n_sampled,
                "server-gain": self.server_gain,
                "local": json.dumps(asdict(self.local), sort_keys=True),
                "verbose": self.verbose,
            }
        )

    @classmethod
    def from_record(cls, config: ConfigRecord) -> TrainInstruction:
        return cls(
            scenario=Scenario.from_dict(json.loads(str(config["scenario"]))),
            round=int(config["round"]),
            shopper=int(config["shopper"]),
            n_sampled=int(config["n-sampled"]),
            server_gain=float(config["server-gain"]),
            local=LocalTraining(**json.loads(str(config["local"]))),
            verbose=bool(config["verbose"]),
        )
