"""What every registered compressor must do, found through the registry: one added as a new
file under fedarena/compression is tested here with no edit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedarena.compression import COMPRESSORS

BUILT_IN = [n for n, origin in COMPRESSORS.origins().items() if origin.startswith("fedarena.")]
D = 300


@pytest.mark.parametrize("name", BUILT_IN)
def test_decodes_one_vector_per_client_and_counts_its_bytes(name):
    compressor = COMPRESSORS.create(name)
    sent = list(torch.randn(4, D, generator=torch.Generator().manual_seed(0)))
    received, sizes = compressor.roundtrip(sent, np.arange(4))
    assert len(received) == len(sizes) == 4
    for vector, size in zip(received, sizes, strict=True):
        assert vector.shape == (D,) and torch.isfinite(vector).all()
        assert isinstance(size, int) and 0 < size <= 4 * D + 64


@pytest.mark.parametrize("name", BUILT_IN)
def test_anything_that_is_not_a_finite_vector_reaches_the_server_as_sent(name):
    compressor = COMPRESSORS.create(name)
    nan = torch.full((D,), float("nan"))
    odd = [None, "junk", torch.zeros(3, 3), nan]
    received, sizes = compressor.roundtrip(odd, np.arange(4))
    assert received[0] is None and received[1] == "junk"
    assert received[2].shape == (3, 3) and torch.isnan(received[3]).all()
    assert sizes[0] == sizes[1] == 0
