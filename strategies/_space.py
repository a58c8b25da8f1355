"""Shared geometry helpers: validation, low-dimensional embedding, cluster density.

Private to ``strategies``: the public modules validate once at their edge and then
call these on clean arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils.extmath import safe_sparse_dot

EMBED_DIM = 64
FIT_SAMPLE = 20_000
DENSITY_CLUSTERS = 32

Matrix: TypeAlias = np.ndarray | sp.spmatrix | sp.sparray


def check_pool(X: object, name: str = "X_pool") -> Matrix:
    """Return ``X`` as csr or a 2-d float array; reject NaN/inf once, here."""
    if sp.issparse(X):
        Xs = sp.csr_matrix(X)
        if not np.isfinite(Xs.data).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        return Xs
    Xd = np.asarray(X, dtype=np.float64)
    if Xd.ndim == 1:
        Xd = Xd.reshape(-1, 1)
    if Xd.ndim != 2:
        raise ValueError(f"{name} must be a 2-d matrix, got {Xd.ndim} dimensions")
    if not np.isfinite(Xd).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return Xd


def n_rows(X: Matrix) -> int:
    return int(X.shape[0])  # type: ignore[index]


def row_norms(X: Matrix) -> np.ndarray:
    """Euclidean norm of every row, dense or sparse."""
    if sp.issparse(X):
        sq = np.asarray(X.multiply(X).sum(axis=1)).ravel()  # type: ignore[union-attr]
    else:
        sq = np.einsum("ij,ij->i", X, X)
    return np.sqrt(sq)


@dataclass(frozen=True)
class Projection:
    """A fitted map from feature rows to the pool's low-dimensional geometry.

    ``rows -> rows[:, columns] @ components.T``; ``columns`` None keeps every column,
    ``components`` None keeps the (selected) columns as they are. Fitted once per pool
    (``fit_projection``) and applied to any rows later: the platform stores it beside
    the pool's features (``projects.pool.geometry``), the simulator per split.
    """

    columns: np.ndarray | None = None
    components: np.ndarray | None = None
    width: int | None = None  # the feature rows' width it was fitted on (None: any)

    def transform(self, X: Matrix) -> np.ndarray:
        if self.columns is not None:
            X = sp.csr_matrix(X)[:, self.columns]
        if self.components is None:
            dense = X.toarray() if sp.issparse(X) else X  # type: ignore[union-attr]
            return np.asarray(dense, dtype=np.float64)
        return np.asarray(safe_sparse_dot(X, self.components.T), dtype=np.float64)


def projection_sample(n: int, random_state: int | np.random.RandomState | None) -> np.ndarray:
    """The rows of an ``n``-row pool ``fit_projection`` fits on: at most ``FIT_SAMPLE``,
    drawn at random, sorted. A caller that stores its rows elsewhere reads only these."""
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n, size=min(n, FIT_SAMPLE), replace=False))


def fit_projection(
    X: Matrix,
    *,
    random_state: int | np.random.RandomState | None = None,
    n: int | None = None,
) -> Projection:
    """The projection ``embed`` applies: TruncatedSVD for sparse or wide pools.

    Sparse or wide matrices go through TruncatedSVD (LSA, Deerwester et al. 1990) fitted
    on a random sample of at most ``FIT_SAMPLE`` rows (``projection_sample``); narrow
    dense matrices are kept. ``n``: the pool's size when ``X`` holds only the sample's
    rows, read by the caller; the fit is then the one the whole pool would give.
    """
    rows, d = X.shape  # type: ignore[misc]
    if not sp.issparse(X) and d <= EMBED_DIM:
        return Projection()
    rng = check_random_state(random_state)
    n = rows if n is None else n
    k = min(EMBED_DIM, d - 1, n - 1)
    if k < 1:
        return Projection()
    picked = projection_sample(n, rng)  # drawn either way: the SVD's draws follow it
    if rows != n:
        if rows != len(picked):
            raise ValueError(f"X holds {rows} rows, not the sample's {len(picked)}")
        sample = X
    else:
        sample = X[picked]  # type: ignore[index]
    columns = None
    if sp.issparse(sample):
        # Columns no sampled row uses get no weight in the SVD; dropping them is exact
        # for the fit and makes hashed text (2**17 columns) cheap.
        columns = np.unique(sample.indices)  # type: ignore[union-attr]
        sample = sample[:, columns]
        k = min(k, len(columns) - 1)
        if k < 1:
            return Projection(columns=columns, width=d)
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=4, random_state=rng)
    svd.fit(sample)
    return Projection(columns=columns, components=svd.components_, width=d)


def embed(X: Matrix, *, random_state: int | np.random.RandomState | None = None) -> np.ndarray:
    """A dense, at most ``EMBED_DIM``-dimensional view of the pool for geometry."""
    return fit_projection(X, random_state=random_state).transform(X)


def cluster_density(
    Z: np.ndarray, *, random_state: int | np.random.RandomState | None
) -> np.ndarray:
    """Approximate information density, in [0, 1], of every row of an embedding ``Z``.

    Settles & Craven (2008) weight uncertainty by the mean cosine similarity of ``x`` to
    the pool, ``(1/U) sum_u sim(x, x_u)``. An ``n x n`` similarity matrix does not scale,
    so the pool is summarised by ``c`` k-means centroids ``mu_j`` holding a share ``w_j``
    of the pool: ``d(x) = sum_j w_j max(0, cos(x, mu_j))``, rescaled so the max is 1.
    """
    n = Z.shape[0]
    if n == 0:
        return np.zeros(0)
    rng = check_random_state(random_state)
    Zc = Z - Z.mean(axis=0)
    sample = rng.choice(n, size=min(n, FIT_SAMPLE), replace=False)
    distinct = np.unique(Zc[sample], axis=0).shape[0]
    c = max(1, min(DENSITY_CLUSTERS, distinct))
    km = KMeans(n_clusters=c, n_init=1, max_iter=50, random_state=rng).fit(Zc[sample])
    weights = np.bincount(km.labels_, minlength=c) / len(sample)
    sims = normalize(Zc) @ normalize(km.cluster_centers_).T
    density = np.clip(sims, 0.0, None) @ weights
    top = density.max()
    return density / top if top > 0 else np.ones(n)


@dataclass(frozen=True)
class Density:
    """What ``density_fit`` learned of a pool: ``cluster_density``'s summary of it, the
    projection, its mean, the k-means centroids (unit length) and their shares ``w_j``.

    ``raw(rows)`` is each row's unscaled density, so a pool can be scored in chunks
    (each where its rows are) and scaled by the maximum after (``scaled_density``).
    """

    projection: Projection
    mean: np.ndarray
    centres: np.ndarray
    weights: np.ndarray

    def raw(self, X: Matrix) -> np.ndarray:
        Z = self.projection.transform(X) - self.mean
        return np.asarray(np.clip(normalize(Z) @ self.centres.T, 0.0, None) @ self.weights)


def density_sample(n: int, random_state: int | None) -> np.ndarray:
    """The pool positions (sorted, at most ``FIT_SAMPLE``) that ``density_fit`` reads."""
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n, size=min(n, FIT_SAMPLE), replace=False))


def density_fit(X_sample: Matrix, *, random_state: int | None) -> Density:
    """``cluster_density``'s summary fitted on the rows ``density_sample`` chose: their
    projection, their mean and ``DENSITY_CLUSTERS`` k-means centroids."""
    projection = fit_projection(X_sample, random_state=random_state)
    Z = projection.transform(X_sample)
    mean = Z.mean(axis=0) if len(Z) else np.zeros(Z.shape[1])
    Zc = Z - mean
    distinct = np.unique(Zc, axis=0).shape[0]
    c = max(1, min(DENSITY_CLUSTERS, distinct))
    km = KMeans(n_clusters=c, n_init=1, max_iter=50, random_state=random_state).fit(Zc)
    weights = np.bincount(km.labels_, minlength=c) / len(Zc)
    return Density(projection, mean, normalize(km.cluster_centers_), weights)


def scaled_density(raw: np.ndarray) -> np.ndarray:
    """Raw densities (``Density.raw``, of every pool row) rescaled so the max is 1."""
    raw = np.asarray(raw, dtype=np.float64)
    top = raw.max() if len(raw) else 0.0
    return raw / top if top > 0 else np.ones(len(raw))


def uniform_tiebreak(n: int, random_state: int | np.random.RandomState | None) -> np.ndarray:
    """A seeded random permutation key used to break ties among equal scores."""
    return check_random_state(random_state).permutation(n)


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of integers by a sort: the distinct values, ascending.

    NumPy 2.3+ finds ``np.unique``'s values in a hash table (then sorts them), which for
    many distinct integers, as item ids, is several times slower than sorting: 0.7 s
    against 0.05 s for a million ids here (numpy/numpy#28375, #31970).
    """
    ordered = np.sort(values, axis=None)
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def rank_desc(values: np.ndarray, random_state: int | np.random.RandomState | None) -> np.ndarray:
    """Indices sorting ``values`` from highest to lowest, ties broken by a seeded key."""
    key = uniform_tiebreak(len(values), random_state)
    return np.lexsort((key, -values))


def top_desc(
    values: np.ndarray, m: int, random_state: int | np.random.RandomState | None
) -> np.ndarray:
    """``rank_desc(values, random_state)[:m]`` without sorting the whole pool.

    A partition finds the m-th highest value; only the rows at or above it (ties
    included, so the seeded key still decides among them) are sorted. At a million
    rows the full sort was half a second of a batch selection; this is a few ms.
    """
    n = len(values)
    key = uniform_tiebreak(n, random_state)  # drawn in full: the same key as rank_desc
    if m >= n:
        return np.lexsort((key, -values))[:m]
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    cut = -np.partition(-values, m - 1)[m - 1]
    rows = np.flatnonzero(values >= cut)
    return rows[np.lexsort((key[rows], -values[rows]))][:m]
