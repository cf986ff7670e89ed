"""The compression contract: what a client sends and what the server decodes from it."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from fedarena.registry import Registry


@runtime_checkable
class Compressor(Protocol):
    """Encodes each sent update and decodes it on the server, counting the bytes.

    ``roundtrip`` receives what the sampled clients send (honest updates or an
    attacker's arbitrary objects) and their ids (for per-client state such as
    error feedback); it returns what the server decodes and the exact number of
    bytes each client put on the wire. Anything that is not a float vector of
    the expected length passes through unchanged, for the server to reject.
    """

    def roundtrip(self, sent: list[Any], client_ids: np.ndarray) -> tuple[list[Any], list[int]]: ...


COMPRESSORS: Registry[Compressor] = Registry(
    "compression", "fedarena.compression", "fedarena.compression"
)
