"""No compression: float32 on the wire."""

from __future__ import annotations

from typing import Any

import numpy as np

from fedarena.compression.base import COMPRESSORS, SendsAsIs, raw_bytes


@COMPRESSORS.register("none")
class NoCompression(SendsAsIs):
    """Send the float32 update as it is: 4 d bytes per client."""

    def roundtrip(self, sent: list[Any], client_ids: np.ndarray) -> tuple[list[Any], list[int]]:
        return list(sent), [raw_bytes(m) for m in sent]
