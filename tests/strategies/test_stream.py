from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from strategies.stream import (
    StreamState,
    multilabel_confidence,
    sequence_confidence,
    simulate_stream,
    stream_decide,
)


def test_threshold_moves_by_step_as_in_the_paper() -> None:
    rng = np.random.default_rng(0)
    asked, state = stream_decide(
        StreamState(threshold=0.9), 0.0, budget=1.0, rng=rng, random_share=0.0, delta=0.0
    )
    assert asked and state.threshold == pytest.approx(0.9 * 0.99) and state.queried == 1
    asked, state = stream_decide(state, 1.0, budget=1.0, rng=rng, random_share=0.0, delta=0.0)
    assert not asked and state.threshold == pytest.approx(0.9 * 0.99 * 1.01)
    assert (state.seen, state.queried) == (2, 1)


def test_spent_budget_never_queries() -> None:
    state = StreamState(threshold=1.0, seen=10, queried=3)
    for _ in range(5):  # 3/11 ... 3/15 >= 0.2
        asked, state = stream_decide(state, 0.0, budget=0.2, rng=np.random.default_rng(1))
        assert not asked
    assert state.queried == 3
    asked, state = stream_decide(state, 0.0, budget=0.2, rng=np.random.default_rng(1))
    assert asked  # 3/16 < 0.2: the budget has room again


def test_state_round_trips_through_json() -> None:
    state = StreamState(threshold=0.7, seen=3, queried=1)
    assert StreamState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_query_rate_holds_the_budget_on_a_drifting_stream() -> None:
    rng = np.random.default_rng(0)
    confident = np.clip(rng.normal(0.95, 0.03, size=5000), 0, 1)
    unsure = np.clip(rng.normal(0.55, 0.05, size=5000), 0, 1)
    queried = simulate_stream(np.concatenate([confident, unsure]), budget=0.1, random_state=0)
    assert 0.08 <= queried.mean() <= 0.101
    assert queried[:5000].mean() > 0.05 and queried[5000:].mean() > 0.05


def test_simulation_is_seeded_and_never_overspends() -> None:
    p = np.random.default_rng(2).random(300)
    mask = simulate_stream(p, budget=0.2, random_state=5)
    np.testing.assert_array_equal(mask, simulate_stream(p, budget=0.2, random_state=5))
    assert mask.dtype == bool and len(mask) == 300
    spent = np.cumsum(mask) / np.arange(1, 301)
    # A query happens only while the expense before it is under budget.
    assert np.all(spent[mask] <= 0.2 + 1.0 / np.arange(1, 301)[mask])
    assert simulate_stream(p, budget=0.0, random_state=5).sum() == 0
    with pytest.raises(ValueError):
        simulate_stream(p, budget=1.5)


def test_random_share_queries_regardless_of_the_threshold() -> None:
    """About `random_share` of the decisions are random queries, which leave theta alone."""
    rng, state, random_queries = np.random.default_rng(3), StreamState(threshold=0.0), 0
    for _ in range(5000):  # threshold 0 queries nothing by uncertainty; theta only grows
        before = state.threshold
        asked, state = stream_decide(state, 0.99, budget=1.0, rng=rng, random_share=0.1)
        random_queries += asked and state.threshold == before
    assert state.queried == random_queries
    assert 0.085 <= random_queries / 5000 <= 0.115


def test_multilabel_confidence_is_the_least_sure_label_decision() -> None:
    proba = np.array([[0.9, 0.2, 0.5], [0.99, 0.01, 0.7], [0.6, 0.6, 0.6]])
    # min_j max(p_j, 1 - p_j): 0.5 (the third label), 0.7, 0.6
    assert multilabel_confidence(proba) == pytest.approx([0.5, 0.7, 0.6])
    assert multilabel_confidence(np.array([[0.0, 1.0]])) == pytest.approx([1.0])
    assert multilabel_confidence(np.zeros((2, 0))).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="items, labels"):
        multilabel_confidence(np.array([0.2, 0.4]))


def test_sequence_confidence_is_the_length_normalised_path_probability() -> None:
    path_proba = np.array([0.25, 0.25, 0.5, 1.0])
    lengths = np.array([2, 1, 1, 0])
    # sqrt(0.25), 0.25, 0.5, and 1 for an empty sentence
    assert sequence_confidence(path_proba, lengths) == pytest.approx([0.5, 0.25, 0.5, 1.0])


def test_a_long_sure_sentence_is_not_queried_for_its_length() -> None:
    # Twenty tokens each 0.95 sure: the path is 0.36 likely, the per-token confidence 0.95.
    long_sure, short_unsure = sequence_confidence(np.array([0.95**20, 0.6]), np.array([20, 1]))
    rng = np.random.default_rng(0)
    state = StreamState(threshold=0.9)
    decide = partial(stream_decide, budget=1.0, rng=rng, random_share=0.0, delta=0.0)
    assert (decide(state, long_sure)[0], decide(state, short_unsure)[0]) == (False, True)
