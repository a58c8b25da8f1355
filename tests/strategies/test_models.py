from __future__ import annotations

import pickle

import numpy as np
import pytest

from strategies.committee import train_committee
from strategies.features import text_features
from strategies.models import train_model, train_multilabel_model


def test_proba_has_a_column_for_every_class_even_absent_ones(iris) -> None:
    X, y = iris
    seen = y != 2
    model = train_model(X[seen], y[seen], 4, random_state=0)
    proba = model.predict_proba(X)
    assert proba.shape == (150, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba[:, 2:] == 0.0)
    assert set(model.predict(X)) <= {0, 1}


def test_single_labelled_class_predicts_it_with_smoothed_prior(iris) -> None:
    X, _ = iris
    model = train_model(X[:3], np.array([1, 1, 1]), 3)
    proba = model.predict_proba(X[:2])
    np.testing.assert_allclose(proba, [[1 / 6, 4 / 6, 1 / 6]] * 2)
    assert list(model.predict(X[:2])) == [1, 1]


def test_one_labelled_item_is_enough(iris) -> None:
    X, _ = iris
    model = train_model(X[:1], np.array([0]), 3)
    assert model.predict(X).tolist() == [0] * 150


def test_model_learns_and_pickles(iris) -> None:
    X, y = iris
    model = train_model(X, y, 3, random_state=0)
    assert (model.predict(X) == y).mean() > 0.9
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_sparse_text_model_uses_only_seen_columns() -> None:
    texts = ["cheap pills buy now", "meeting at noon", "buy cheap now", "noon meeting agenda"]
    X = text_features(texts)
    model = train_model(X, np.array([1, 0, 1, 0]), 2)
    assert len(model.columns_) < 20
    assert model.predict(text_features(["buy cheap pills", "agenda for the meeting"])).tolist() == [
        1,
        0,
    ]


@pytest.mark.parametrize("bad", [[0, 3], [-1, 0], [0.5, 1]])
def test_labels_out_of_range_are_rejected(iris, bad) -> None:
    X, _ = iris
    with pytest.raises(ValueError):
        train_model(X[:2], np.array(bad), 3)


def test_committee_members_differ_but_keep_every_class(iris) -> None:
    X, y = iris
    rows = np.r_[0:5, 50:55, 100:105]
    committee = train_committee(X[rows], y[rows], 3, size=4, random_state=1)
    assert len(committee) == 4
    assert all(m.estimator_ is not None and len(m.present_) == 3 for m in committee)
    probas = [m.predict_proba(X) for m in committee]
    assert not np.allclose(probas[0], probas[1])


def test_committee_is_seeded(iris) -> None:
    X, y = iris
    a = train_committee(X, y, 3, size=3, random_state=7)
    b = train_committee(X, y, 3, size=3, random_state=7)
    for m, n in zip(a, b, strict=True):
        np.testing.assert_array_equal(m.predict_proba(X), n.predict_proba(X))


def test_multilabel_model_gives_per_label_probabilities(iris) -> None:
    X, y = iris
    Y = np.column_stack([y == 0, y != 1, np.zeros_like(y)]).astype(int)
    model = train_multilabel_model(X, Y, random_state=0)
    proba = model.predict_proba(X)
    assert proba.shape == (150, 3)
    assert (model.predict(X)[:, 0] == Y[:, 0]).mean() > 0.95
    assert np.all(proba[:, 2] < 0.5)  # a label never seen positive


def test_empty_pool_gives_empty_probabilities(iris) -> None:
    X, y = iris
    model = train_model(X, y, 3)
    assert model.predict_proba(X[:0]).shape == (0, 3)
    assert model.predict(X[:0]).shape == (0,)
