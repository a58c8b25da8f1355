"""The selector's shortlist without a full sort equals the full ranking's head (issue 17)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from strategies._space import rank_desc, top_desc
from strategies.selection import SELECTORS, select_batch

# Few distinct values: ties at the cut are the case the partition must get right.
values = st.integers(0, 60).flatmap(
    lambda n: arrays(np.float64, n, elements=st.sampled_from([-1.0, 0.0, 0.25, 0.5, 3.0]))
)


@settings(max_examples=200, deadline=None)
@given(values=values, m=st.integers(-1, 70), seed=st.integers(0, 2**16))
def test_top_desc_is_the_head_of_rank_desc(values, m, seed) -> None:  # type: ignore[no-untyped-def]
    expected = rank_desc(values, seed)[: max(m, 0)]
    np.testing.assert_array_equal(top_desc(values, m, seed), expected)


def _select_with_full_sort(scores, X, k, name, seed):  # type: ignore[no-untyped-def]
    """The selector as it was: the whole pool ranked, then cut to the shortlist."""
    import strategies.selection as selection

    original = selection.top_desc
    selection.top_desc = lambda v, m, rng: rank_desc(v, rng)[:m]  # type: ignore[assignment]
    try:
        return select_batch(scores, X, k, options=name, random_state=seed)
    finally:
        selection.top_desc = original


def test_every_preset_picks_as_the_full_sort_did() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5))
    scores = np.round(rng.random(400), 1)  # many ties
    for name in SELECTORS:
        for seed in range(3):
            new = select_batch(scores, X, 12, options=name, random_state=seed)
            old = _select_with_full_sort(scores, X, 12, name, seed)
            np.testing.assert_array_equal(new.indices, old.indices)
