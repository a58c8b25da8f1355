"""Retrain steps without a full sort or copy give what the full sort or copy gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.pool.features import row_block
from projects.training.rankings import ranking_top, sorted_common

scores = st.lists(
    st.sampled_from([0.0, 0.25, 0.5, 1.0, float("nan")]) | st.floats(0, 1), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(scores, st.integers(0, 70), st.randoms(use_true_random=False))
def test_the_top_is_the_full_sorts_top(values: list[float], n: int, rnd) -> None:  # type: ignore[no-untyped-def]
    ids = np.array(sorted(rnd.sample(range(1000), len(values))), dtype=np.int64)
    s = np.array(values, dtype=np.float64)
    expected = np.lexsort((ids, -s))[:n]
    assert np.array_equal(ranking_top(ids, s, n), expected)


@settings(max_examples=300, deadline=None)
@given(st.sets(st.integers(0, 200)), st.lists(st.integers(-5, 205)))
def test_common_ids_are_intersect1d(pool: set[int], values: list[int]) -> None:
    ids = np.array(sorted(pool), dtype=np.int64)
    wanted = np.array(values, dtype=np.int64)
    assert np.array_equal(sorted_common(ids, wanted), np.intersect1d(ids, wanted))


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_a_row_block_is_the_slice(n: int) -> None:
    rng = np.random.default_rng(n)
    X = sp.csr_matrix(rng.random((n, 7), dtype=np.float32) * (rng.random((n, 7)) < 0.3))
    dense = X.toarray()
    for start in range(n):
        for stop in range(start + 1, n + 3):
            block = row_block(X, start, stop)
            assert np.array_equal(block.toarray(), dense[start:stop]), (start, stop)
            assert np.array_equal(row_block(dense, start, stop), dense[start:stop])


@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_a_row_block_shares_the_matrix_memory(index: type) -> None:
    """A chunk's rows are read where they lie: scipy's constructor copies a small view of
    a large array, which a block of a large pool always is."""
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((400, 50)) * (rng.random((400, 50)) < 0.2))
    X.indptr, X.indices = X.indptr.astype(index), X.indices.astype(index)
    block = row_block(X, 100, 150)
    assert np.shares_memory(block.data, X.data)
    assert np.shares_memory(block.indices, X.indices)
    assert block.indptr.dtype == block.indices.dtype == index
    assert np.array_equal(block.toarray(), X.toarray()[100:150])
    v = rng.random(50)
    assert np.array_equal(block @ v, X[100:150] @ v)  # the arithmetic reads it as a matrix
