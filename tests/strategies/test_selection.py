from __future__ import annotations

import json

import numpy as np
import pytest

from strategies.selection import (
    SELECTORS,
    CostModel,
    SelectorOptions,
    balance_scores,
    select_batch,
)


def test_top_k_takes_the_highest_scores_in_order() -> None:
    X = np.arange(12.0).reshape(6, 2)
    s = np.array([0.1, 0.9, 0.3, 0.8, 0.2, 0.5])
    picked = select_batch(s, X, 3, options="top_k", random_state=0)
    assert picked.indices.tolist() == [1, 3, 5]
    np.testing.assert_allclose(picked.components["informativeness"], [1.0, 0.875, 0.5])


def test_ties_are_broken_by_the_seed() -> None:
    X = np.arange(20.0).reshape(10, 2)
    s = np.ones(10)
    a = select_batch(s, X, 4, options="top_k", random_state=1).indices
    b = select_batch(s, X, 4, options="top_k", random_state=1).indices
    orders = {
        tuple(select_batch(s, X, 4, options="top_k", random_state=r).indices) for r in range(10)
    }
    np.testing.assert_array_equal(a, b)
    assert len(orders) > 1


def test_cluster_diversity_avoids_near_duplicates(blobs) -> None:
    X, y = blobs
    s = np.where(y == 0, 1.0, 0.5) + np.linspace(0, 0.01, len(y))
    top = select_batch(s, X, 3, options="top_k", random_state=0)
    assert set(y[top.indices]) == {0}
    for name in ("cluster", "kcenter"):
        options = SelectorOptions(diversity=name, shortlist_factor=20)
        diverse = select_batch(s, X, 3, options=options, random_state=0)
        assert sorted(y[diverse.indices]) == [0, 1, 2], name
        assert y[diverse.indices[0]] == 0, name


def test_k_larger_than_the_pool_returns_the_whole_pool() -> None:
    X = np.arange(6.0).reshape(3, 2)
    for name in SELECTORS:
        picked = select_batch(
            np.zeros(3),
            X,
            10,
            options=name,
            proba=np.full((3, 2), 0.5),
            cost=np.ones(3),
            random_state=0,
        )
        assert sorted(picked.indices.tolist()) == [0, 1, 2]


def test_one_item_left() -> None:
    picked = select_batch(np.array([0.3]), np.ones((1, 4)), 5, options="kcenter", random_state=0)
    assert picked.indices.tolist() == [0]


def test_nan_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        select_batch(np.array([0.1, np.nan]), np.zeros((2, 2)), 1)
    with pytest.raises(ValueError):
        select_batch(np.array([0.1, 0.2]), np.zeros((3, 2)), 1)
    with pytest.raises(ValueError):
        select_batch(np.array([0.1, 0.2]), np.zeros((2, 2)), 1, cost=np.array([1.0, 0.0]))


def test_cost_aware_prefers_cheap_items_at_equal_information() -> None:
    X = np.arange(8.0).reshape(4, 2)
    s = np.array([1.0, 1.0, 0.0, 0.0])
    cost = np.array([60.0, 5.0, 5.0, 5.0])
    picked = select_batch(s, X, 1, options=SelectorOptions(cost_aware=True), cost=cost)
    assert picked.indices.tolist() == [1]
    np.testing.assert_allclose(picked.components["cost"], [5.0])


def test_class_balance_prefers_rare_predicted_classes() -> None:
    proba = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1]])
    b = balance_scores(proba, label_counts=np.array([50, 2]))
    assert b[1] == 1.0 and b[0] == 0.0
    picked = select_batch(
        np.ones(3),
        np.eye(3),
        1,
        options=SelectorOptions(class_balance=1.0),
        proba=proba,
        label_counts=np.array([50, 2]),
        random_state=0,
    )
    assert picked.indices.tolist() == [1]


def test_components_are_json_friendly(iris) -> None:
    X, _ = iris
    s = np.random.default_rng(0).random(150)
    picked = select_batch(
        s, X, 5, options="representative", proba=np.full((150, 3), 1 / 3), random_state=0
    )
    records = picked.as_records()
    json.dumps(records)
    assert [r["rank"] for r in records] == [0, 1, 2, 3, 4]
    assert {"informativeness", "representativeness", "diversity", "total"} <= set(records[0])
    assert records[0]["diversity"] == 1.0


def test_unknown_selector_and_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        select_batch(np.zeros(2), np.zeros((2, 2)), 1, options="nope")
    with pytest.raises(ValueError):
        SelectorOptions(diversity="spiral")


def test_cost_model_fits_length_to_seconds() -> None:
    lengths = np.array([10, 20, 40, 80, 160, 320, 640])
    seconds = 0.5 * np.sqrt(lengths)
    seconds[3] = 900.0  # a coffee break
    model = CostModel().fit(lengths, seconds)
    predicted = model.predict(np.array([100, 400]))
    np.testing.assert_allclose(predicted, 0.5 * np.sqrt([100, 400]), rtol=0.3)


def test_cost_model_without_enough_data_predicts_the_median() -> None:
    model = CostModel().fit(np.array([10, 20]), np.array([4.0, 6.0]))
    np.testing.assert_allclose(model.predict(np.array([5, 500])), [5.0, 5.0])
    np.testing.assert_allclose(CostModel(default_seconds=7).predict(np.array([1])), [7.0])


def test_identical_items_still_give_distinct_rows() -> None:
    X = np.ones((8, 3))
    for name in ("cluster", "kcenter", "representative"):
        picked = select_batch(np.zeros(8), X, 3, options=name, random_state=0)
        assert len(set(picked.indices.tolist())) == 3, name
