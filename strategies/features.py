"""Stateless feature extraction: every item's row is computed once at import and stored.

Text uses the hashing trick (Weinberger et al. 2009): word 1- and 2-grams hashed into
``N_TEXT_FEATURES`` columns, sublinear term frequency ``1 + log(tf)``, rows l2-normalised.
Nothing is fitted, so rows computed on different days are comparable and can be vstacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

N_TEXT_FEATURES: int = 2**17

FeatureMatrix: TypeAlias = np.ndarray | sp.csr_matrix | sp.csr_array


def _vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        n_features=N_TEXT_FEATURES,
        ngram_range=(1, 2),
        alternate_sign=False,
        norm=None,
        lowercase=True,
        dtype=np.float32,
    )


def text_features(texts: Sequence[str]) -> sp.csr_matrix:
    """Hashed word 1-2 gram features, shape ``(n, N_TEXT_FEATURES)``, float32.

    ``x_j = (1 + log tf_j) / ||1 + log tf||_2`` over the hashed n-gram counts ``tf``
    (sublinear TF, Manning et al. 2008 §6.4.1). Stateless: the same text always gives
    the same row.
    """
    if isinstance(texts, str):
        raise TypeError("text_features expects a sequence of strings, not one string")
    counts = _vectorizer().transform(["" if t is None else str(t) for t in texts])
    counts = sp.csr_matrix(counts, dtype=np.float32)
    np.log(counts.data, out=counts.data)
    counts.data += 1.0
    return sp.csr_matrix(normalize(counts, norm="l2", copy=False), dtype=np.float32)


def vector_features(rows: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """User-supplied feature vectors as a dense float32 matrix; rejects ragged or NaN rows."""
    X = np.asarray(rows, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError("feature vectors must all have the same length")
    if not np.isfinite(X).all():
        raise ValueError("feature vectors must be finite numbers")
    return X


def stack_rows(rows: Sequence[FeatureMatrix]) -> FeatureMatrix:
    """Stack stored per-item rows (sparse or dense) into one pool matrix."""
    if not rows:
        raise ValueError("no rows to stack")
    if any(sp.issparse(r) for r in rows):
        return sp.csr_matrix(sp.vstack(rows, format="csr"), dtype=np.float32)
    return np.vstack(
        [np.asarray(r, dtype=np.float32).reshape(1, -1) if np.ndim(r) == 1 else r for r in rows]
    )
