"""Updates kept on their changed columns expand to exactly the matrix they stand for."""

from __future__ import annotations

import torch

from fedarena.updates import SparseUpdates, merge


def _sparse(n: int, dim: int, columns: list[int], seed: int) -> SparseUpdates:
    g = torch.Generator().manual_seed(seed)
    return SparseUpdates(torch.randn(n, len(columns), generator=g), torch.tensor(columns), dim)


def test_dense_puts_the_values_at_their_columns_and_zeros_elsewhere():
    u = _sparse(3, 9, [1, 4, 8], seed=0)
    dense = u.dense()
    assert dense.shape == (3, 9)
    assert torch.equal(dense[:, [1, 4, 8]], u.values)
    assert not dense[:, [0, 2, 3, 5, 6, 7]].any()


def test_expand_and_restrict_are_inverse_on_the_kept_columns():
    u = _sparse(2, 7, [0, 3, 6], seed=1)
    vector = torch.tensor([1.0, 2.0, 3.0])
    expanded = u.expand(vector)
    assert torch.equal(expanded, torch.tensor([1.0, 0, 0, 2.0, 0, 0, 3.0]))
    assert torch.equal(u.restrict(expanded), vector)


def test_a_column_wise_mean_of_the_kept_columns_equals_the_dense_mean():
    """Exactly zero off the kept columns; on them up to the last bits, as BLAS's ``w @ X``
    may sum a column in another order for another number of columns (AVX-512)."""
    u = _sparse(37, 5000, list(range(3, 5000, 7)), seed=2)
    weights = torch.rand(37, generator=torch.Generator().manual_seed(3))
    weights /= weights.sum()
    sparse_mean, dense_mean = u.expand(weights @ u.values), weights @ u.dense()
    torch.testing.assert_close(sparse_mean, dense_mean, rtol=1e-6, atol=1e-7)
    off = torch.ones(5000, dtype=torch.bool)
    off[u.columns] = False
    assert torch.equal(sparse_mean[off], torch.zeros(int(off.sum())))


def test_select_keeps_the_masked_rows():
    u = _sparse(4, 6, [2, 5], seed=4)
    mask = torch.tensor([True, False, True, True])
    assert torch.equal(u.select(mask).dense(), u.dense()[mask])
    assert u.select(torch.ones(4, dtype=torch.bool)) is u


def test_merge_interleaves_rows_over_the_union_of_columns():
    first, second = _sparse(2, 10, [0, 4, 5], seed=5), _sparse(3, 10, [4, 9], seed=6)
    rows_first, rows_second = torch.tensor([1, 3]), torch.tensor([0, 2, 4])
    merged = merge([(rows_first, first), (rows_second, second)], 5)
    assert merged.columns.tolist() == [0, 4, 5, 9]
    expected = torch.zeros(5, 10)
    expected[rows_first], expected[rows_second] = first.dense(), second.dense()
    assert torch.equal(merged.dense(), expected)


def test_merge_with_a_dense_part_is_dense():
    sparse = _sparse(1, 6, [2], seed=7)
    dense = SparseUpdates.from_dense(torch.randn(2, 6))
    merged = merge([(torch.tensor([1]), sparse), (torch.tensor([0, 2]), dense)], 3)
    assert merged.columns is None
    assert torch.equal(merged.dense()[1], sparse.dense()[0])
    assert torch.equal(merged.dense()[[0, 2]], dense.values)


def test_given_row_norms_follow_their_rows_through_select_and_merge():
    first, second = _sparse(2, 10, [0, 4, 5], seed=8), _sparse(3, 10, [4, 9], seed=9)
    first = SparseUpdates(first.values, first.columns, first.dim, first.norms() + 1.0)
    assert torch.equal(first.norms(), first.row_norms)
    mask = torch.tensor([False, True])
    assert torch.equal(first.select(mask).norms(), first.row_norms[mask])
    # one part without them: the merged norms are computed from the merged values
    rows_first, rows_second = torch.tensor([1, 3]), torch.tensor([0, 2, 4])
    merged = merge([(rows_first, first), (rows_second, second)], 5)
    assert merged.row_norms is None
    second = SparseUpdates(second.values, second.columns, second.dim, second.norms() + 2.0)
    merged = merge([(rows_first, first), (rows_second, second)], 5)
    assert torch.equal(merged.norms()[rows_first], first.row_norms)
    assert torch.equal(merged.norms()[rows_second], second.row_norms)


def test_norms_without_given_ones_are_the_float64_norms_of_the_rows():
    u = _sparse(4, 12, [1, 2, 11], seed=10)
    expected = torch.linalg.vector_norm(u.dense().double(), dim=1)
    torch.testing.assert_close(u.norms(), expected, rtol=1e-15, atol=0.0)
