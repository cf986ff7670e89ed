"""No compression: float32 on the wire."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from fedarena.compression.base import COMPRESSORS


def raw_bytes(message: Any) -> int:
    """Bytes of a message sent as it is: a tensor's raw data, else 0 (nothing decodable)."""
    return message.numel() * message.element_size() if isinstance(message, Tensor) else 0


@COMPRESSORS.register("none")
class NoCompression:
    """Send the float32 update as it is: 4 d bytes per client."""

    def roundtrip(self, sent: list[Any], client_ids: np.ndarray) -> tuple[list[Any], list[int]]:
        return list(sent), [raw_bytes(m) for m in sent]
