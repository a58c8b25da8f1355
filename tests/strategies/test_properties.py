"""Property tests: every strategy and selector returns a valid batch for any pool."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from strategies.models import train_model
from strategies.query import STRATEGIES, QueryContext, score
from strategies.seeding import coverage_seed
from strategies.selection import SELECTORS, select_batch

SINGLE_LABEL = sorted(n for n, info in STRATEGIES.items() if not info.multilabel)
MULTI_LABEL = sorted(n for n, info in STRATEGIES.items() if info.multilabel)

pools = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: arrays(np.float64, (n, 3), elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0, 3.0]))
)


def _valid(indices: np.ndarray, n: int, k: int) -> None:
    assert len(indices) == min(n, k)
    assert len(np.unique(indices)) == len(indices)
    assert indices.min(initial=0) >= 0 and indices.max(initial=0) < max(n, 1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pool=pools,
    k=st.integers(1, 50),
    strategy=st.sampled_from(SINGLE_LABEL),
    selector=st.sampled_from(sorted(SELECTORS)),
    n_labeled=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_every_strategy_and_selector_returns_a_valid_batch(
    pool, k, strategy, selector, n_labeled, seed
) -> None:
    n = len(pool)
    rng = np.random.default_rng(seed)
    X_labeled = rng.normal(size=(n_labeled, 3))
    y_labeled = rng.integers(0, 3, size=n_labeled)
    model = train_model(X_labeled, y_labeled, 3, random_state=seed)
    ctx = QueryContext(
        X_pool=pool,
        model=model,
        X_labeled=X_labeled,
        y_labeled=y_labeled,
        n_classes=3,
        random_state=seed,
        committee_size=3,
    )
    scores = score(strategy, ctx)
    assert scores.shape == (n,) and np.isfinite(scores).all()
    cost = rng.uniform(1, 30, size=n)
    first = select_batch(
        scores, pool, k, options=selector, proba=ctx.proba, cost=cost, random_state=seed
    )
    _valid(first.indices, n, k)
    again = select_batch(
        scores, pool, k, options=selector, proba=ctx.proba, cost=cost, random_state=seed
    )
    np.testing.assert_array_equal(first.indices, again.indices)
    for values in first.components.values():
        assert len(values) == len(first.indices)


@settings(max_examples=15, deadline=None)
@given(
    pool=pools,
    strategy=st.sampled_from(MULTI_LABEL),
    k=st.integers(1, 10),
    seed=st.integers(0, 100),
)
def test_multilabel_strategies_return_a_valid_batch(pool, strategy, k, seed) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.random((len(pool), 4))
    sets = rng.integers(0, 2, size=(6, 4))  # some strategies compare with labelled sets
    scores = score(strategy, QueryContext(X_pool=pool, proba=proba, y_labeled=sets))
    _valid(
        select_batch(scores, pool, k, options="cluster", random_state=seed).indices, len(pool), k
    )


@settings(max_examples=25, deadline=None)
@given(pool=pools, k=st.integers(0, 50), seed=st.integers(0, 100))
def test_coverage_seed_returns_distinct_rows(pool, k, seed) -> None:
    picks = coverage_seed(pool, k, random_state=seed)
    _valid(picks, len(pool), k) if k else None
    assert len(picks) == min(k, len(pool))
    np.testing.assert_array_equal(picks, coverage_seed(pool, k, random_state=seed))
