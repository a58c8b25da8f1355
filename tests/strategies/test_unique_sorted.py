"""`unique_sorted`: `np.unique` of integers by a sort (NumPy's hash path is slow on ids)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from strategies._space import unique_sorted


@given(
    arrays(
        dtype=st.sampled_from([np.int64, np.int32, np.int16, np.uint32]),
        shape=st.integers(0, 300),
        elements=st.integers(0, 40),
    )
)
def test_it_gives_what_np_unique_gives(values: np.ndarray) -> None:
    got = unique_sorted(values)
    assert got.dtype == values.dtype
    np.testing.assert_array_equal(got, np.unique(values))


def test_it_leaves_its_input_as_it_was() -> None:
    values = np.array([5, 3, 5, 1], dtype=np.int64)
    np.testing.assert_array_equal(unique_sorted(values), [1, 3, 5])
    np.testing.assert_array_equal(values, [5, 3, 5, 1])
