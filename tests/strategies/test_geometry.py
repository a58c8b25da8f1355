"""The pool's low-rank geometry (issue 15): one projection, fitted once, applied to any rows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from strategies import _space, selection
from strategies._space import EMBED_DIM, Projection, embed, fit_projection, projection_sample
from strategies.data import DEMO_TEXT_CSV
from strategies.datasets import load_file, make_split
from strategies.features import pool_text_features
from strategies.models import train_model
from strategies.selection import SELECTORS, select_batch, uses_geometry
from strategies.simulate_loop import LoopState, strategy_chooser


@pytest.fixture(scope="module")
def text_pool() -> sp.csr_matrix:
    texts = load_file(DEMO_TEXT_CSV).texts
    assert texts is not None
    return pool_text_features(texts[:400])[1]


def test_a_projection_fitted_once_maps_any_rows_as_embed_maps_the_pool(text_pool) -> None:  # type: ignore[no-untyped-def]
    projection = fit_projection(text_pool, random_state=3)
    Z = embed(text_pool, random_state=3)
    assert Z.shape == (400, EMBED_DIM)
    np.testing.assert_array_equal(projection.transform(text_pool), Z)
    rows = np.array([5, 17, 399, 0])
    np.testing.assert_allclose(projection.transform(text_pool[rows]), Z[rows], rtol=1e-12)
    assert projection.components is not None
    assert projection.components.shape == (EMBED_DIM, text_pool.shape[1])


def test_a_fit_on_the_sample_alone_is_the_fit_on_the_pool(
    text_pool, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A caller that reads only the rows `projection_sample` picks gets the projection
    the whole pool gives; a matrix of any other size is refused."""
    monkeypatch.setattr(_space, "FIT_SAMPLE", 100)
    picked = projection_sample(400, 3)
    assert len(picked) == 100 and (np.diff(picked) > 0).all()
    whole = fit_projection(text_pool, random_state=3)
    alone = fit_projection(text_pool[picked], random_state=3, n=400)
    np.testing.assert_array_equal(alone.components, whole.components)
    np.testing.assert_array_equal(alone.columns, whole.columns)
    with pytest.raises(ValueError, match="not the sample's 100"):
        fit_projection(text_pool[:99], random_state=3, n=400)


def test_narrow_dense_features_are_their_own_geometry(iris) -> None:  # type: ignore[no-untyped-def]
    X, _ = iris
    projection = fit_projection(X, random_state=0)
    assert projection == Projection()
    np.testing.assert_array_equal(projection.transform(X[:7]), X[:7])


def test_only_diversity_selectors_use_the_geometry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "GEOMETRY", "embedding")
    assert uses_geometry(SELECTORS["kcenter"].options)
    assert not uses_geometry(SELECTORS["top_k"].options)
    monkeypatch.setattr(selection, "GEOMETRY", "features")
    assert not uses_geometry(SELECTORS["kcenter"].options)


def test_the_simulators_kcenter_measures_distance_on_the_pools_svd(
    text_pool, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """With the embedding geometry, the chooser's picks are k-center on the pool's SVD
    rows, which differ from k-center on the raw TF-IDF rows."""
    data = load_file(DEMO_TEXT_CSV)
    data.texts, data.y = data.texts[:400], data.y[:400]  # type: ignore[index]
    split = make_split(data, test_fraction=0.25, seed=1)
    labeled = np.arange(40)
    unlabeled = np.arange(40, split.y_pool.size)
    model = train_model(split.X_pool[labeled], split.y_pool[labeled], split.n_classes)
    proba = model.predict_proba(split.X_pool[unlabeled])
    state = LoopState(split, labeled, unlabeled, model, proba, 10, 7)
    picks = {}
    for geometry in ("features", "embedding"):
        monkeypatch.setattr(selection, "GEOMETRY", geometry)
        picks[geometry] = strategy_chooser("margin", "kcenter")(state)
    assert split.embedding is not None
    margin = 1 - np.diff(np.sort(proba, axis=1)[:, -2:], axis=1).ravel()
    expected = select_batch(
        margin,
        split.X_pool[unlabeled],
        10,
        options="kcenter",
        proba=proba,
        label_counts=np.bincount(split.y_pool[labeled], minlength=split.n_classes),
        random_state=7,
        geometry=embed(split.X_pool, random_state=split.seed)[unlabeled],
    ).indices
    np.testing.assert_array_equal(picks["embedding"], expected)
    assert set(picks["embedding"].tolist()) != set(picks["features"].tolist())
