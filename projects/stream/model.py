"""One-row scoring fast enough for stream mode (hundreds of decisions per second).

scikit-learn validates its input on every call, which costs milliseconds for a
single row of 2**17 hashed columns. A stream decision needs one row at a time,
so a model version is compiled once per process into its weight matrix, and a
text row is hashed with the same vectorizer as ``strategies.features``. Each
compiled model is checked against the model's own ``predict_proba`` on its
first row; a model it does not reproduce is used through ``predict_proba``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp


class Scorer:
    """``p(y|x)`` over all ``n_classes`` of a LinearModel as one sparse-dense product."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.n_features = int(getattr(model, "n_features_in_", 0)) or None
        self.checked = False
        self.fast = False
        self._compile(model)

    def _compile(self, model: Any) -> None:
        estimator = getattr(model, "estimator_", None)
        prior = getattr(model, "prior_", None)
        if prior is None or not hasattr(model, "n_classes"):
            return
        self.n_classes = int(model.n_classes)
        self.prior = np.asarray(prior, dtype=np.float64)
        self.estimator = estimator
        if estimator is None:
            self.fast = True
            return
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        columns = getattr(model, "columns_", None)
        if columns is not None:  # weights live on the active columns of a hashed space
            full = np.zeros((self.n_features or 0, coef.shape[0]))
            full[columns] = coef.T
            self.weights = full
        else:
            self.weights = np.ascontiguousarray(coef.T)
        self.intercept = np.asarray(estimator.intercept_, dtype=np.float64)
        self.present = np.asarray(estimator.classes_, dtype=np.intp)
        self.fast = True

    def proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the single row ``X`` (1 × n_features, or a ``HashedRow``)."""
        if not self.fast:
            return self._reference(X)
        result = self._fast(X)
        if not self.checked:  # trust the compiled form only once it matched the model
            reference = self._reference(X)
            self.fast = bool(np.allclose(result, reference, atol=1e-6))
            self.checked = True
            return reference
        return result

    def _reference(self, X: Any) -> np.ndarray:
        if isinstance(X, HashedRow):
            X = X.to_csr()
        return np.asarray(self.model.predict_proba(X)[0], dtype=np.float64)

    def _fast(self, X: Any) -> np.ndarray:
        if self.estimator is None:
            return self.prior.copy()
        if isinstance(X, HashedRow):
            z = X.data.astype(np.float64) @ self.weights[X.columns]
        elif sp.issparse(X):
            row = sp.csr_matrix(X)
            z = row.data.astype(np.float64) @ self.weights[row.indices]
        else:
            z = np.asarray(X, dtype=np.float64).reshape(-1) @ self.weights
        z = z + self.intercept
        if len(self.present) == 2 and len(z) == 1:  # binary logistic regression
            p1 = 1.0 / (1.0 + np.exp(-z[0]))
            present = np.array([1.0 - p1, p1])
        else:
            e = np.exp(z - z.max())
            present = e / e.sum()
        out = np.zeros(self.n_classes)
        out[self.present] = present
        return out


@lru_cache(maxsize=32)
def stream_scorer(project_id: int, version: int) -> Scorer:
    """The compiled model of a version (versions never change once written)."""
    from projects.training.services import load_model

    return Scorer(load_model(project_id, version))


@lru_cache(maxsize=1)
def _vectorizer() -> Any:
    from strategies.features import _vectorizer as library_vectorizer

    return library_vectorizer()


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    return _vectorizer().build_analyzer()


class HashedRow:
    """One hashed text row as its sorted columns and values: a scipy matrix costs more
    to build and check than the hashing and the scoring of a row together."""

    __slots__ = ("columns", "data", "n_features")

    def __init__(self, columns: np.ndarray, data: np.ndarray, n_features: int) -> None:
        self.columns, self.data, self.n_features = columns, data, n_features

    @property
    def shape(self) -> tuple[int, int]:
        return (1, self.n_features)

    def to_csr(self) -> sp.csr_matrix:
        return hashed_rows_csr([self])


def hashed_rows_csr(rows: list[HashedRow]) -> sp.csr_matrix:
    """The rows stacked as one CSR matrix (built once for many rows)."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(r.columns) for r in rows], out=indptr[1:])
    return sp.csr_matrix(
        (
            np.concatenate([r.data for r in rows]),
            np.concatenate([r.columns for r in rows]),
            indptr,
        ),
        shape=(len(rows), rows[0].n_features),
    )


def text_row(text: str) -> sp.csr_matrix:
    """``strategies.features.text_features([text])`` for one text (see ``hashed_text``)."""
    return hashed_text(text).to_csr()


def hashed_text(text: str) -> HashedRow:
    """``strategies.features.text_features([text])`` for one text, without the overhead.

    Hashed 1-2 gram counts, ``1 + log tf``, l2-normalised; tests check it equals
    the library function. The n-grams are hashed here as sklearn's FeatureHasher
    does (signed 32-bit MurmurHash3, seed 0, column ``|h| mod n_features``, no
    alternating sign): its input checks cost more than the hashing for one text.
    """
    from sklearn.utils import murmurhash3_32

    n_features = _vectorizer().n_features
    grams = _analyzer()(text)
    hashes = np.fromiter((murmurhash3_32(g, seed=0) for g in grams), np.int64, len(grams))
    np.abs(hashes, out=hashes)
    hashes %= n_features
    hashes.sort()
    new = np.ones(len(hashes), dtype=bool)  # the first of each run of one column
    np.not_equal(hashes[1:], hashes[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    columns = hashes[starts].astype(np.int32)
    ends = np.empty_like(starts)
    ends[:-1], ends[-1:] = starts[1:], len(hashes)
    data = (ends - starts).astype(np.float32)
    np.log(data, out=data)
    data += 1.0
    norm = float(np.sqrt(np.dot(data, data)))
    if norm > 0:
        data /= norm
    return HashedRow(columns, data, n_features)
