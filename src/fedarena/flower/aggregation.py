"""The server's half of a round in Flower: the in-process ``Federation.finish_round``.

``federation`` is the in-process ``Federation`` used as the server's state
(global parameters, history, participation, components); its ``step`` is never
called, since the clients train in Flower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fedarena.engine.federation import Federation, RoundRecord
from fedarena.engine.local import LocalTraining


@dataclass(frozen=True)
class Received:
    """One round's replies, in the order of the sampled clients.

    ``sent[i]`` is what client ``clients[i]`` sent (``None`` when its reply held
    no readable update), ``weights[i]`` its reported number of examples
    (``None`` when not a finite number > 0, which rejects the update) and
    ``losses[i]`` its reported training loss.
    """

    clients: np.ndarray
    sent: list[Any]
    weights: list[float | None]
    losses: list[float]


def aggregate_round(
    federation: Federation,
    round: int,
    received: Received,
    generator: torch.Generator,
    local: LocalTraining,
    start: float,
) -> RoundRecord:
    """Screen, defend and step exactly as in-process; append the record to the history."""
    federation.participation[received.clients] += 1
    losses = torch.tensor(received.losses, dtype=torch.float32)
    return federation.finish_round(
        round, received.clients, received.sent, received.weights, losses, generator, local, start
    )
