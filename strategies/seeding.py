"""Cold start: choose the first batch for coverage of the pool, not by a model."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state

from strategies._space import FIT_SAMPLE, Matrix, check_pool, embed, n_rows


def coverage_seed(X_pool: Matrix, k: int, *, random_state: int | None = None) -> np.ndarray:
    """``k`` distinct pool rows that cover the pool: the point nearest each k-means centre.

    k-means (Lloyd, k-means++ initialisation, Arthur & Vassilvitskii 2007) runs on a
    random sample of at most ``FIT_SAMPLE`` rows of a low-dimensional embedding (SVD
    for sparse text); each centre is replaced by its nearest sampled pool point, which
    avoids the outliers that raw k-means++ seeding favours. Rows are ranked by cluster
    size (largest first). If the pool has fewer than ``k`` distinct points, the rest
    are filled at random; ``k >= n`` returns every row.
    """
    X = check_pool(X_pool)
    n = n_rows(X)
    if k < 0:
        raise ValueError("k must be non-negative")
    rng = check_random_state(random_state)
    if k >= n:
        return rng.permutation(n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    # Only the sample is embedded: a million-row pool never becomes a dense matrix.
    sample = np.sort(rng.choice(n, size=min(n, max(FIT_SAMPLE, k)), replace=False))
    Zs = embed(X[sample], random_state=rng)  # type: ignore[index]
    distinct = np.unique(Zs, axis=0).shape[0]
    picks = _centre_points(Zs, min(k, distinct), rng)
    chosen = sample[picks]
    return _fill(chosen, n, k, rng)


def _centre_points(Z: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
    km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=rng).fit(Z)
    d2 = _squared_distances(Z, km.cluster_centers_)
    order = np.argsort(-np.bincount(km.labels_, minlength=k), kind="stable")
    picks: list[int] = []
    taken = np.zeros(Z.shape[0], dtype=bool)
    for c in order:  # loop over k centres, not the pool
        col = np.where(taken, np.inf, d2[:, c])
        best = int(np.argmin(col))
        if np.isfinite(col[best]):
            picks.append(best)
            taken[best] = True
    return np.asarray(picks, dtype=np.int64)


def _squared_distances(Z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    z2 = np.einsum("ij,ij->i", Z, Z)[:, None]
    c2 = np.einsum("ij,ij->i", centres, centres)[None, :]
    return np.clip(z2 - 2.0 * Z @ centres.T + c2, 0.0, None)


def _fill(chosen: np.ndarray, n: int, k: int, rng: np.random.RandomState) -> np.ndarray:
    if len(chosen) >= k:
        return chosen[:k]
    rest = np.setdiff1d(np.arange(n), chosen)
    extra = rng.choice(rest, size=k - len(chosen), replace=False)
    return np.concatenate([chosen, extra]).astype(np.int64)
