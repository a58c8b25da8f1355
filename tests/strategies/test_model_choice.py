"""The stronger default (vocabulary TF-IDF, C by CV) and the user's own model (issue 15)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC

from strategies.datasets import Dataset, make_split
from strategies.embedders import check_rows, sentence_transformer
from strategies.features import TextVectorizer, pool_text_features
from strategies.model_search import MIN_SEARCH_LABELS, RESEARCH_GROWTH, cv_search, reusable_choice
from strategies.models import EstimatorModel, LinearModel, ModelSpec, train_model
from strategies.simulate import model_spec, simulate

TEXTS = [
    "the cat sat on the mat",
    "a cat and a dog",
    "stock markets fell sharply",
    "markets rallied on the news",
] * 20


def test_vocabulary_is_fitted_on_the_pool_and_later_texts_reuse_it() -> None:
    vectorizer, X = pool_text_features(TEXTS)
    assert X.shape == (80, vectorizer.n_features)
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A.ravel(), 1.0, rtol=1e-5)
    # A later text: known terms get the pool's weights, unknown ones are ignored.
    later = vectorizer.transform(["the cat and the zebra", "zebra"])
    assert later.shape == (2, vectorizer.n_features)
    assert later[1].nnz == 0 and later[0].nnz > 0
    # Picklable (the platform stores it), and the same after a round trip.
    again = pickle.loads(pickle.dumps(vectorizer))
    assert (again.transform(TEXTS) != X).nnz == 0


def test_vocabulary_keeps_rare_terms_of_a_small_pool_and_survives_odd_texts() -> None:
    small = TextVectorizer().fit(["alpha beta", "gamma"])  # < 50 texts: min_df 1
    assert {"alpha", "gamma"} <= set(small.tfidf_.vocabulary_)
    odd = TextVectorizer().fit(["!!", "?", ""])  # no word at all: characters instead
    assert odd.transform(["!?"]).nnz > 0
    with pytest.raises(ValueError):
        TextVectorizer().fit([])


def test_simulated_text_is_featurised_with_the_pools_vocabulary() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    texts, y = [], []
    for i in range(300):
        label = i % 3
        topic = words[label * 100 : label * 100 + 100]
        texts.append(" ".join(rng.choice(topic, 4)) + " " + " ".join(rng.choice(words, 6)))
        y.append(label)
    data = Dataset("toy", np.array(y), ["a", "b", "c"], texts=texts)
    split = make_split(data, test_fraction=0.3, seed=0)
    vectorizer, X_pool = pool_text_features([texts[i] for i in range(300)])
    assert split.X_pool.shape[1] < 2**17  # a vocabulary, not the hashed space
    assert split.X_pool.shape[1] < X_pool.shape[1]  # fitted on the pool rows only
    model = train_model(split.X_pool, split.y_pool, 3, random_state=0)
    assert np.mean(model.predict(split.X_test) == split.y_test) > 0.6


def test_C_is_chosen_by_cv_once_there_are_enough_labels(iris) -> None:
    X, y = iris
    few = train_model(X[::15], y[::15], 3, C="cv", random_state=0)  # 10 labels
    assert few.chosen_ == {"C": 1.0, "searched": False}
    many = train_model(X, y, 3, C="cv", random_state=0)
    assert many.chosen_["searched"] is True and many.chosen_["C"] in (0.1, 1.0, 10.0)
    assert many.chosen_["searched_at"] == 150
    # The default of train_model is the CV choice.
    assert train_model(X, y, 3, random_state=0).chosen_ == many.chosen_


def test_a_search_stands_until_the_labels_grow_by_a_quarter() -> None:
    grid = {"C": (1.0, 10.0, 100.0)}
    searched = {"C": 100.0, "searched": True, "searched_at": 400}
    assert reusable_choice(searched, grid, 400) == {"C": 100.0}
    assert reusable_choice(searched, grid, int(400 * RESEARCH_GROWTH) - 1) == {"C": 100.0}
    assert reusable_choice(searched, grid, int(400 * RESEARCH_GROWTH)) is None  # grown
    assert reusable_choice(searched, grid, int(400 / RESEARCH_GROWTH)) is None  # shrunk
    assert reusable_choice({**searched, "C": 0.5}, grid, 400) is None  # not in the grid now
    assert reusable_choice({"C": 10.0, "searched": False}, grid, 400) is None  # a default
    assert reusable_choice({"C": 10.0, "searched": True}, grid, 400) is None  # no count
    assert reusable_choice(None, grid, 400) is None


def test_a_fit_keeps_the_previous_search_and_searches_again_once_labels_grew(
    iris, monkeypatch
) -> None:
    X, y = iris
    first = train_model(X[:100], y[:100], 3, C="cv", random_state=0).chosen_
    assert first["searched"] is True and first["searched_at"] == 100
    # A C the search would not pick, recorded as searched: kept, without searching.
    other = next(c for c in (0.1, 1.0, 10.0) if c != first["C"])
    monkeypatch.setattr("strategies.models.cv_search", _no_search)
    kept = train_model(X[:110], y[:110], 3, C="cv", random_state=0, previous={**first, "C": other})
    assert kept.chosen_ == {"C": other, "searched": True, "searched_at": 100}
    assert other == kept.estimator_.C
    monkeypatch.undo()
    again = train_model(X, y, 3, C="cv", random_state=0, previous={**first, "C": other})
    assert again.chosen_["searched_at"] == 150  # 1.5x the labels: a new search


def _no_search(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise AssertionError("searched although the previous choice stands")


def test_cv_search_picks_the_grid_point_with_the_lowest_held_out_loss(iris) -> None:
    X, y = iris

    def make(params: dict) -> LinearModel:
        return LinearModel(3, C=params["C"], random_state=0)

    # A tiny C cannot separate the classes: its held-out log-loss is far worse.
    assert cv_search(make, {"C": [1e-4, 10.0]}, X, y, random_state=0) == {"C": 10.0}
    assert cv_search(make, {"C": [1e-4, 10.0]}, X[: MIN_SEARCH_LABELS - 1], y[:19]) is None


def test_estimator_model_answers_for_every_class_and_searches_its_grid(iris) -> None:
    X, y = iris
    seen = y != 1
    forest = EstimatorModel(RandomForestClassifier(n_estimators=10, random_state=0), 4)
    proba = forest.fit(X[seen], y[seen]).predict_proba(X)
    assert proba.shape == (150, 4) and np.all(proba[:, [1, 3]] == 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    single = EstimatorModel(GaussianNB(), 3).fit(X[:3], np.array([2, 2, 2]))
    np.testing.assert_allclose(single.predict_proba(X[:1]), [[1 / 6, 1 / 6, 4 / 6]])
    searched = EstimatorModel(
        RandomForestClassifier(n_estimators=5, random_state=0),
        3,
        grid={"max_depth": [1, None]},
        random_state=0,
    ).fit(X, y)
    assert searched.chosen_["searched"] is True and searched.chosen_["max_depth"] in (1, None)
    with pytest.raises(ValueError, match="predict_proba"):
        EstimatorModel(LinearSVC(), 3).fit(X, y)


def test_model_spec_builds_ours_or_the_users(iris) -> None:
    X, y = iris
    assert isinstance(train_model(X, y, 3, spec=ModelSpec()), LinearModel)
    ours = train_model(X, y, 3, spec=ModelSpec(params={"C": 0.5}))
    assert ours.estimator_.C == 0.5
    theirs = train_model(X, y, 3, spec=ModelSpec(estimator=GaussianNB(), name="nb"))
    assert isinstance(theirs, EstimatorModel) and not ModelSpec(estimator=GaussianNB()).linear


def test_simulator_trains_the_chosen_estimator_and_refuses_committees_with_it(iris) -> None:
    X, y = iris
    data = Dataset("iris", y, ["a", "b", "c"], features=X)
    spec = model_spec("sklearn.naive_bayes.GaussianNB", None, None)
    assert spec is not None
    doc = simulate(data, ["margin"], budget=30, repeats=1, spec=spec)
    assert doc["config"]["model"] == "sklearn.naive_bayes.GaussianNB"
    assert doc["runs"][0]["curve"][-1]["labels"] == 30
    with pytest.raises(ValueError, match="need our logistic regression"):
        simulate(data, ["kl_consensus"], budget=30, repeats=1, spec=spec)
    with pytest.raises(ValueError, match="cannot build"):
        model_spec("sklearn.naive_bayes.NoSuchModel", None, None)


def test_embedder_rows_are_checked_and_a_missing_model_directory_never_downloads(
    tmp_path,
) -> None:
    assert check_rows([[1, 2], [3, 4]], 2).dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        check_rows([[1, 2]], 2)
    with pytest.raises(ValueError, match="NaN"):
        check_rows([[np.nan, 1.0]], 1)
    with pytest.raises(ValueError, match="does not exist"):
        sentence_transformer(str(tmp_path / "all-MiniLM-L6-v2"))
