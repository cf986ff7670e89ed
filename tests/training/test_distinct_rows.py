"""The trainer's distinct item rows by a presence table equal torch.unique's, inverse included."""

from __future__ import annotations

import pytest
import torch

from fedarena.training.vectorised import _distinct


@pytest.mark.parametrize("n_rows, n_items", [(0, 1), (1, 1), (50, 10), (2000, 9066), (30, 200000)])
def test_distinct_rows_equal_torch_unique(n_rows, n_items):
    rows = torch.randint(n_items, (n_rows,), generator=torch.Generator().manual_seed(n_rows))
    distinct, rank = _distinct(rows)
    expected, inverse = torch.unique(rows, sorted=True, return_inverse=True)
    assert torch.equal(distinct, expected)
    assert torch.equal(rank, inverse)
    assert torch.equal(distinct[rank], rows)
