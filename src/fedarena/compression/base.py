"""The compression contract: what a client sends and what the server decodes from it."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from fedarena.registry import Registry


@runtime_checkable
class Compressor(Protocol):
    """Encodes each sent update and decodes it on the server, counting the bytes.

    ``roundtrip`` receives what the sampled clients send (honest updates or an
    attacker's arbitrary objects) and their ids (for per-client state such as
    error feedback); it returns what the server decodes and the exact number of
    bytes each client put on the wire. Anything that is not a float vector of
    the expected length passes through unchanged, for the server to reject.
    The federation calls it once per round, in round order.
    """

    def roundtrip(self, sent: list[Any], client_ids: np.ndarray) -> tuple[list[Any], list[int]]: ...


class SendsAsIs:
    """Base of a compressor whose ``roundtrip`` returns every message unchanged: the engine
    may then keep the honest updates on the columns training changed (``fedarena.updates``)
    instead of sending it (clients, d) rows."""


def raw_bytes(message: Any) -> int:
    """Bytes of a message sent as it is: a tensor's raw data, else 0 (nothing decodable)."""
    return message.numel() * message.element_size() if isinstance(message, Tensor) else 0


def encodable(message: Any) -> Tensor | None:
    """``message`` as a float32 vector if an encoder may take it, else ``None``.

    Encodable: a 1-D floating-point tensor whose entries are finite in float32.
    Anything else is sent as it is, so that the server's guard sees (and
    rejects) exactly what the client produced.
    """
    if not isinstance(message, Tensor) or not message.is_floating_point() or message.dim() != 1:
        return None
    vector = message.detach().float()
    return vector if bool(torch.isfinite(vector).all()) else None


def index_width(d: int) -> int:
    """Bytes of the narrowest unsigned integer (1, 2 or 4 bytes) that holds every index < d."""
    return 1 if d <= 2**8 else 2 if d <= 2**16 else 4


COMPRESSORS: Registry[Compressor] = Registry(
    "compression", "fedarena.compression", "fedarena.compression"
)
