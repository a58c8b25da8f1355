"""Multi-label strategies from the literature (MMC, adaptive, CVIRS) on hand-checked arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from strategies.models import train_multilabel_model
from strategies.multilabel_query import (
    adaptive_scores,
    cardinality_inconsistency,
    cvirs_scores,
    margin_rank_scores,
    max_margin_uncertainty,
    mmc_scores,
    set_distances,
    vector_inconsistency,
)
from strategies.query import STRATEGIES, QueryContext, score
from strategies.selection import select_batch
from strategies.tasks import strategies_for_task, strategy_fits

# Three items, three labels: a clear set {0, 1}, a coin flip on every label, no label.
P = np.array([[0.9, 0.6, 0.2], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3]])
SETS = np.array([[1, 0, 0], [1, 1, 0]])
COUNTS = np.array([2, 1])
NEW = ("multilabel_mmc", "multilabel_adaptive", "multilabel_cvirs")


def test_mmc_by_hand() -> None:
    # m = round(sum p) = 2, 2, 1; top m count 1 - p, the rest p:
    # (0.1 + 0.4) + 0.2; 0.5 + 0.5 + 0.5; 0.7 + (0.1 + 0.2)
    np.testing.assert_allclose(mmc_scores(P), [0.7, 1.5, 1.0])


def test_max_margin_uncertainty_by_hand() -> None:
    # f = 2p - 1. Row 0: min f+ 0.2, max f- -0.6 -> 1/0.8. Row 1: all positive, min f+ 0,
    # no negative (-1) -> 1/1. Row 2: no positive (1), max f- -0.4 -> 1/1.4.
    np.testing.assert_allclose(max_margin_uncertainty(P), [1.25, 1.0, 1 / 1.4])


def test_adaptive_by_hand() -> None:
    np.testing.assert_allclose(cardinality_inconsistency(P, 1.5), [0.5, 1.5, 1.5])
    expected = np.sqrt([1.25 * 0.5, 1.0 * 1.5, 1.5 / 1.4])
    np.testing.assert_allclose(adaptive_scores(P, 1.5, beta=0.5), expected)
    np.testing.assert_allclose(adaptive_scores(P, 1.5, beta=1.0), [1.25, 1.0, 1 / 1.4])
    np.testing.assert_allclose(adaptive_scores(P, 1.5, beta=0.0), [0.5, 1.5, 1.5])
    with pytest.raises(ValueError):
        adaptive_scores(P, 1.5, beta=1.5)


def test_margin_ranks_by_hand() -> None:
    # margins |2p - 1|: label 0 [0.8, 0, 0.8] -> ranks [2.5, 1, 2.5]; label 1
    # [0.2, 0, 0.6] -> [2, 1, 3]; label 2 [0.6, 0, 0.4] -> [3, 1, 2]. s = sum(3 - r) / 6.
    np.testing.assert_allclose(margin_rank_scores(P), [0.25, 1.0, 0.25])


def test_set_distances_by_hand() -> None:
    # {0,1} vs {0}: cells a=1 b=1 c=0 d=1, H(a,b) = ln 3, H each = H(1/3, 2/3).
    h = -(np.log(1 / 3) / 3 + 2 / 3 * np.log(2 / 3))
    near = (2 * np.log(3) - 2 * h) / np.log(3)
    got = set_distances(np.array([[1, 1, 0], [0, 1, 1], [0, 0, 0]]), SETS)
    np.testing.assert_allclose(got[0], [near, 0.0])
    assert got[1, 0] == 1.0  # disagree on every label
    np.testing.assert_allclose(got[2], [1.0, 1.0])  # an empty set shares nothing
    assert set_distances(np.zeros((1, 3)), np.zeros((1, 3)))[0, 0] == 0.0


def test_cvirs_by_hand() -> None:
    h = -(np.log(1 / 3) / 3 + 2 / 3 * np.log(2 / 3))
    near = (2 * np.log(3) - 2 * h) / np.log(3)
    v = vector_inconsistency(P, SETS, COUNTS)
    np.testing.assert_allclose(v, [2 / 3 * near, 1.0, 1.0])
    np.testing.assert_allclose(cvirs_scores(P, SETS, COUNTS), [0.25 * 2 / 3 * near, 1.0, 0.25])


def test_strategies_read_the_labelled_sets_from_the_model() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    Y = (X[:, :3] > 0).astype(np.int64)
    model = train_multilabel_model(X, Y, random_state=0)
    assert model.label_rate_ == pytest.approx(Y.sum(axis=1).mean())
    assert model.label_set_counts_.sum() == 30
    pool = rng.normal(size=(12, 4))
    proba = model.predict_proba(pool)
    sets, counts = np.unique(Y, axis=0, return_counts=True)
    np.testing.assert_allclose(
        score("multilabel_cvirs", QueryContext(pool, model=model)),
        cvirs_scores(proba, sets, counts),
    )
    from_labels = QueryContext(pool, proba=proba, y_labeled=Y)
    np.testing.assert_allclose(
        score("multilabel_adaptive", from_labels), adaptive_scores(proba, model.label_rate_)
    )
    with pytest.raises(ValueError, match="MultilabelModel or y_labeled"):
        score("multilabel_cvirs", QueryContext(pool, proba=proba, y_labeled=Y[:, 0]))


probas = st.tuples(st.integers(1, 30), st.integers(1, 6)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]))
)


@settings(max_examples=30, deadline=None)
@given(proba=probas, strategy=st.sampled_from(NEW), k=st.integers(1, 10), seed=st.integers(0, 99))
def test_new_strategies_give_a_valid_duplicate_free_batch(proba, strategy, k, seed) -> None:
    n, L = proba.shape
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 2, size=(5, L))
    pool = rng.normal(size=(n, 3))
    scores = score(strategy, QueryContext(pool, proba=proba, y_labeled=Y))
    assert scores.shape == (n,) and np.isfinite(scores).all() and (scores >= 0).all()
    for selector in ("top_k", "kcenter"):
        picked = select_batch(scores, pool, k, options=selector, random_state=seed).indices
        assert len(picked) == min(n, k) and len(np.unique(picked)) == len(picked)
        assert picked.min() >= 0 and picked.max() < n


def test_single_label_projects_cannot_pick_them() -> None:
    for name in NEW:
        assert STRATEGIES[name].multilabel
        assert strategy_fits(name, "multilabel")
        assert not strategy_fits(name, "single") and not strategy_fits(name, "spans")
    assert not set(NEW) & set(strategies_for_task("single"))
