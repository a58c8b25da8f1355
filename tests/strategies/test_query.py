from __future__ import annotations

import numpy as np
import pytest

from strategies.committee import train_committee
from strategies.models import train_model
from strategies.query import (
    STRATEGIES,
    QueryContext,
    entropy_scores,
    expected_gradient_length_scores,
    kl_consensus_scores,
    least_confidence_scores,
    margin_scores,
    multilabel_least_confidence_scores,
    multilabel_margin_scores,
    pool_density,
    score,
    vote_entropy_scores,
)

P = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]])


def test_least_confidence_by_hand() -> None:
    np.testing.assert_allclose(least_confidence_scores(P), [0.3, 0.6, 2 / 3, 0.0])


def test_margin_by_hand_including_a_tie_at_the_top() -> None:
    np.testing.assert_allclose(margin_scores(P), [0.5, 1.0, 1.0, 0.0])


def test_entropy_by_hand_with_zero_probabilities() -> None:
    h0 = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    np.testing.assert_allclose(
        entropy_scores(P), [h0, -(0.8 * np.log(0.4) + 0.2 * np.log(0.2)), np.log(3), 0.0]
    )


def test_vote_entropy_by_hand() -> None:
    votes = np.array([[0, 1, 2], [0, 1, 2], [0, 2, 1], [0, 2, 0]])  # 4 members, 3 items
    expected = [0.0, np.log(2), -(0.25 * np.log(0.25) + 0.25 * np.log(0.25) + 0.5 * np.log(0.5))]
    np.testing.assert_allclose(vote_entropy_scores(votes, 3), expected)


def test_kl_consensus_by_hand() -> None:
    members = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])
    np.testing.assert_allclose(kl_consensus_scores(members), [np.log(2), 0.0])


def test_expected_gradient_length_closed_form_matches_explicit_sum() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 4))
    proba = rng.dirichlet(np.ones(3), size=5)
    explicit = np.zeros(5)
    for i in range(5):
        x1 = np.append(X[i], 1.0)
        for y in range(3):
            grad = np.outer(proba[i] - np.eye(3)[y], x1)
            explicit[i] += proba[i, y] * np.linalg.norm(grad)
    np.testing.assert_allclose(expected_gradient_length_scores(proba, X), explicit)


def test_multilabel_scores_by_hand() -> None:
    Q = np.array([[0.5, 0.9], [0.1, 0.9], [1.0, 0.0]])
    np.testing.assert_allclose(multilabel_least_confidence_scores(Q), [0.3, 0.1, 0.0])
    np.testing.assert_allclose(multilabel_margin_scores(Q), [1.0, 0.2, 0.0])


def test_random_is_seeded_and_varies_with_the_seed() -> None:
    X = np.zeros((50, 2))
    a = score("random", QueryContext(X_pool=X, random_state=3))
    b = score("random", QueryContext(X_pool=X, random_state=3))
    c = score("random", QueryContext(X_pool=X, random_state=4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_uncertainty_scores_have_one_value_per_row_of_a_large_pool() -> None:
    """Shape only: the speed of a million rows is benchmarks/scoring.py's business."""
    proba = np.random.default_rng(0).dirichlet(np.ones(10), size=100_000)
    X = np.zeros((100_000, 1))
    for name in ("least_confidence", "margin", "entropy"):
        s = score(name, QueryContext(X_pool=X, proba=proba))
        assert s.shape == (100_000,) and np.isfinite(s).all()


def test_every_strategy_scores_every_pool_row(iris) -> None:
    X, y = iris
    rows = np.r_[0:3, 50:53, 100:103]
    model = train_model(X[rows], y[rows], 3, random_state=0)
    for name, info in STRATEGIES.items():
        if info.multilabel:
            continue
        ctx = QueryContext(
            X_pool=X, model=model, X_labeled=X[rows], y_labeled=y[rows], n_classes=3, random_state=0
        )
        s = score(name, ctx)
        assert s.shape == (150,) and np.isfinite(s).all(), name


def test_a_strategy_of_probabilities_alone_needs_no_pool_rows(iris) -> None:
    """`X_pool=None` with `proba` scores exactly as the rows do; a strategy that reads the
    features (`reads_features`) refuses to run without them, and one that reads only
    their norms (`reads_norms`) or the pool's density (`reads_density`) runs on
    `row_norms` or `density` exactly as on the rows."""
    X, y = iris
    rows = np.r_[0:3, 50:53, 100:103]
    model = train_model(X[rows], y[rows], 3, random_state=0)
    proba = model.predict_proba(X)
    labelled = {"X_labeled": X[rows], "y_labeled": y[rows], "n_classes": 3, "random_state": 0}
    reading, norming = set(), set()
    for name, info in STRATEGIES.items():
        if info.multilabel:
            continue
        ctx = QueryContext(X_pool=None, model=model, proba=proba, **labelled)
        if info.reads_features:
            reading.add(name)
            with pytest.raises(ValueError, match="needs X_pool"):
                score(name, ctx)
            continue
        with_rows = score(name, QueryContext(X_pool=X, model=model, proba=proba, **labelled))
        if info.reads_norms or info.reads_density:
            norming.add(name)
            with pytest.raises(ValueError, match="needs X_pool or (row_norms|density)"):
                score(name, ctx)
            given = (
                {"row_norms": np.linalg.norm(X, axis=1)}
                if info.reads_norms
                else {"density": pool_density(X, random_state=0)}
            )
            ctx = QueryContext(X_pool=None, model=model, proba=proba, **given, **labelled)
            np.testing.assert_allclose(score(name, ctx), with_rows, rtol=1e-12, err_msg=name)
            continue
        assert np.array_equal(score(name, ctx), with_rows), name
    assert reading == {"vote_entropy", "kl_consensus"}
    assert norming == {"expected_gradient_length", "density_weighted"}
    with pytest.raises(ValueError, match="one value per pool row"):
        score(
            "expected_gradient_length",
            QueryContext(X_pool=None, proba=proba, row_norms=np.ones(3)),
        )
    with pytest.raises(ValueError, match="needs X_pool"):
        score("random", QueryContext(X_pool=None))


def test_uncertainty_is_highest_between_classes(blobs) -> None:
    X, y = blobs
    model = train_model(X, y, 3, random_state=0)
    pool = np.array([[0.0, 0.0], [5.0, 0.0], [10.0, 0.0]])
    for name in ("least_confidence", "margin", "entropy", "expected_gradient_length"):
        s = score(name, QueryContext(X_pool=pool, model=model))
        assert np.argmax(s) == 1, name


def test_committee_strategies_prefer_disputed_items(blobs) -> None:
    X, y = blobs
    committee = train_committee(X, y, 3, size=7, random_state=0)
    pool = np.array([[0.0, 0.0], [5.0, 5.0]])
    for name in ("vote_entropy", "kl_consensus"):
        s = score(name, QueryContext(X_pool=pool, committee=committee))
        assert s[1] >= s[0], name


def test_committee_is_built_from_labels_when_missing(iris) -> None:
    X, y = iris
    ctx = QueryContext(
        X_pool=X,
        X_labeled=X[::10],
        y_labeled=y[::10],
        n_classes=3,
        random_state=0,
        committee_size=3,
    )
    score("vote_entropy", ctx)
    assert ctx.committee is not None and len(ctx.committee) == 3


def test_density_weighted_prefers_dense_regions_at_equal_uncertainty() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(scale=0.1, size=(200, 2)) + [3.0, 3.0], [[-3.0, -3.0]]])
    proba = np.full((201, 2), 0.5)
    s = score("density_weighted", QueryContext(X_pool=X, proba=proba, random_state=0))
    assert s[-1] < np.median(s[:200])
    flat = score("density_weighted", QueryContext(X_pool=X, proba=proba, beta=0.0))
    np.testing.assert_allclose(flat, np.log(2))


@pytest.mark.parametrize("sparse", [False, True])
def test_the_pools_density_measured_a_chunk_at_a_time_is_the_whole_pools(
    monkeypatch, sparse
) -> None:
    """Fitted on a sample (smaller than the pool here), then every row measured: a
    chunked rescore measures each chunk where its rows are and scales the joined raw
    densities, with the result of `pool_density` on the whole."""
    import scipy.sparse as sp

    from strategies import _space

    monkeypatch.setattr(_space, "FIT_SAMPLE", 60)
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(150, 8)) + 3.0, rng.normal(size=(50, 8)) - 3.0])
    pool = sp.csr_matrix(X) if sparse else X
    whole = pool_density(pool, random_state=4)
    sample = _space.density_sample(200, 4)
    assert len(sample) == 60 and np.all(np.diff(sample) > 0)
    fitted = _space.density_fit(pool[sample], random_state=4)
    raw = np.concatenate([fitted.raw(pool[a:b]) for a, b in ((0, 70), (70, 71), (71, 200))])
    np.testing.assert_allclose(_space.scaled_density(raw), whole, rtol=1e-12)
    assert whole.max() == 1.0 and whole.min() >= 0.0
    assert np.median(whole[:150]) > np.median(whole[150:])  # the larger cluster is denser


def test_unknown_strategy_and_bad_proba_are_rejected() -> None:
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="unknown strategy"):
        score("nope", QueryContext(X_pool=X))
    with pytest.raises(ValueError):
        score("margin", QueryContext(X_pool=X, proba=np.full((2, 2), 0.5)))
    with pytest.raises(ValueError):
        score("margin", QueryContext(X_pool=X, proba=np.full((3, 2), np.nan)))
    with pytest.raises(ValueError):
        score("margin", QueryContext(X_pool=np.full((3, 2), np.inf), proba=np.full((3, 2), 0.5)))


def test_single_class_model_gives_equal_scores() -> None:
    X = np.arange(10.0).reshape(5, 2)
    model = train_model(X[:2], np.array([0, 0]), 2)
    s = score("margin", QueryContext(X_pool=X, model=model))
    assert np.ptp(s) == 0.0


def test_a_row_local_strategy_scores_a_pool_in_parts_as_in_one(iris) -> None:
    """`row_local` is what lets a chunked rescore score each chunk where its rows are:
    the parts' scores, joined, are the whole pool's. The flag must be earned: random
    and density weighting look at the whole pool, and so do the multi-label margin ranks."""
    from strategies.models import train_multilabel_model

    X, y = iris
    rows = np.r_[0:5, 50:55, 100:105]
    model = train_model(X[rows], y[rows], 3, random_state=0)
    committee = train_committee(X[rows], y[rows], 3, size=3, random_state=0)
    Y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(np.int64)
    multi = train_multilabel_model(X[rows], Y[rows], random_state=0)
    parts = (slice(0, 40), slice(40, 97), slice(97, 150))
    local = {name for name, info in STRATEGIES.items() if info.row_local}
    for name in local:
        chosen = multi if STRATEGIES[name].multilabel else model

        def scored(rows: slice, name: str = name, chosen: object = chosen) -> np.ndarray:
            ctx = QueryContext(X_pool=X[rows], model=chosen, committee=committee, random_state=1)
            return score(name, ctx)

        whole = scored(slice(None))
        np.testing.assert_allclose(np.concatenate([scored(p) for p in parts]), whole, err_msg=name)
    assert "margin" in local and "vote_entropy" in local and "kl_consensus" in local
    assert not local & {"random", "density_weighted", "multilabel_cvirs"}
