from __future__ import annotations

import numpy as np

from strategies.features import text_features
from strategies.seeding import coverage_seed


def test_seed_covers_every_cluster(blobs) -> None:
    X, y = blobs
    picks = coverage_seed(X, 3, random_state=0)
    assert sorted(y[picks]) == [0, 1, 2]


def test_seed_picks_central_points_not_outliers(blobs) -> None:
    X, _ = blobs
    picks = coverage_seed(X, 3, random_state=0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    assert np.min(np.linalg.norm(X[picks][:, None] - centres[None], axis=2), axis=1).max() < 0.6


def test_k_at_least_n_returns_every_row() -> None:
    X = np.arange(10.0).reshape(5, 2)
    assert sorted(coverage_seed(X, 5, random_state=0)) == [0, 1, 2, 3, 4]
    assert sorted(coverage_seed(X, 50, random_state=0)) == [0, 1, 2, 3, 4]
    assert len(coverage_seed(X, 0)) == 0


def test_duplicates_still_give_k_distinct_rows() -> None:
    X = np.vstack([np.zeros((30, 3)), np.ones((30, 3))])
    picks = coverage_seed(X, 5, random_state=0)
    assert len(set(picks.tolist())) == 5
    assert {0.0, 1.0} <= set(X[picks, 0])


def test_sparse_text_pool_and_determinism() -> None:
    texts = [
        f"topic {t} word{i % 7} extra{i}" for t in ("sport", "music", "code") for i in range(40)
    ]
    X = text_features(texts)
    a = coverage_seed(X, 6, random_state=1)
    b = coverage_seed(X, 6, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 6
    assert len({texts[i].split()[1] for i in a}) == 3
