"""Top-k sparsification with error feedback kept per client."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from fedarena.compression.base import COMPRESSORS, encodable, index_width, raw_bytes

COUNT_BYTES = 4


def top_k(p: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` largest ``|p_i|``; among equal magnitudes the lower index wins."""
    return torch.argsort(p.abs(), descending=True, stable=True)[:k]


@COMPRESSORS.register("topk")
class TopK:
    """Top-k sparsification with error feedback (Stich et al., NeurIPS 2018, "Sparsified
    SGD with memory"; Karimireddy et al., ICML 2019, "Error feedback fixes SignSGD").

    Client c keeps a residual e_c (zero before its first round). Sending u::

        p   = u + e_c
        s   = p on the k = max(1, round(ratio * d)) coordinates of largest |p_i|, 0 elsewhere
        e_c = p - s

    so what top-k drops this round is added to the client's next update; over
    rounds, sum_t s_t + e_c = sum_t u_t. The server decodes s as a dense vector.

    Bytes per message: 4 (k, as uint32) + 4 k (values, float32) + w k (indices,
    unsigned integers of the narrowest width w in {1, 2, 4} bytes that holds
    d - 1; d itself is known to the server).

    Not encoded, sent as they are (raw tensor bytes, 0 for non-tensors), with
    the client's residual left untouched: anything but a 1-D float tensor with
    finite entries, a message whose length differs from its sender's residual,
    and one whose p = u + e_c overflows float32.

    >>> import numpy as np, torch
    >>> received, n_bytes = TopK(ratio=0.5).roundtrip([torch.tensor([1.0, -3.0, 2.0, 0.5])],
    ...                                               np.array([7]))
    >>> received[0], n_bytes[0]  # k = 2, values + 1-byte indices + count header
    (tensor([ 0., -3.,  2.,  0.]), 14)
    """

    def __init__(self, ratio: float = 0.1) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
        self.ratio = float(ratio)
        self.residuals: dict[int, Tensor] = {}

    def k(self, d: int) -> int:
        """Coordinates kept out of ``d``."""
        return max(1, round(self.ratio * d))

    def message_bytes(self, d: int) -> int:
        """Exact bytes of one encoded message of a length-``d`` update."""
        k = self.k(d)
        return COUNT_BYTES + 4 * k + index_width(d) * k

    def _encode(self, message: Any, client: int) -> tuple[Any, int]:
        u = encodable(message)
        residual = self.residuals.get(client)
        if u is None or (residual is not None and residual.shape != u.shape):
            return message, raw_bytes(message)
        p = u if residual is None else u + residual
        if not bool(torch.isfinite(p).all()):
            return message, raw_bytes(message)
        kept = top_k(p, self.k(len(p)))
        s = torch.zeros_like(p)
        s[kept] = p[kept]
        residual = p.clone()
        residual[kept] = 0.0
        self.residuals[client] = residual
        return s, self.message_bytes(len(p))

    def roundtrip(self, sent: list[Any], client_ids: np.ndarray) -> tuple[list[Any], list[int]]:
        encoded = [self._encode(m, int(c)) for m, c in zip(sent, client_ids, strict=True)]
        return [m for m, _ in encoded], [n for _, n in encoded]
