"""Feature extraction: every item's row is computed once at import and stored.

Two text representations, both word 1-2 grams (extracted by ``strategies.ngrams``) with
sublinear term frequency ``1 + log(tf)`` and l2-normalised rows:

* ``TextVectorizer`` (pool mode, the default): a vocabulary TF-IDF fitted once on the
  pool being imported (terms in at least two documents). It knows the pool, so rare
  hashed collisions vanish and informative terms get their idf weight: on the text
  benchmarks its full-pool accuracy is 1-4 points above hashing
  (docs/learning-benchmark.md). Later items are transformed with the same vocabulary.
* ``text_features`` (stream mode): the hashing trick (Weinberger et al. 2009) into
  ``N_TEXT_FEATURES`` columns. Nothing is fitted, so rows computed on different days
  are comparable and can be vstacked without knowing the stream in advance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from strategies.ngrams import NgramTfidf, hashed_counts, tfidf_rows

N_TEXT_FEATURES: int = 2**17

FeatureMatrix: TypeAlias = np.ndarray | sp.csr_matrix | sp.csr_array


def text_features(texts: Sequence[str]) -> sp.csr_matrix:
    """Hashed word 1-2 gram features, shape ``(n, N_TEXT_FEATURES)``, float32.

    ``x_j = (1 + log tf_j) / ||1 + log tf||_2`` over the hashed n-gram counts ``tf``
    (sublinear TF, Manning et al. 2008 §6.4.1). Stateless: the same text always gives
    the same row; the columns are scikit-learn ``HashingVectorizer``'s (rows stored by it
    stay comparable).
    """
    if isinstance(texts, str):
        raise TypeError("text_features expects a sequence of strings, not one string")
    counts = hashed_counts(_clean(texts), N_TEXT_FEATURES, (1, 2))
    return tfidf_rows(counts, None, sublinear_tf=True)


# Pools smaller than this keep every term (min_df=1): two documents are a large share.
MIN_DF_POOL = 50
MAX_VOCABULARY = 2**18


class TextVectorizer:
    """Vocabulary TF-IDF (word 1-2 grams, sublinear tf, smooth idf) fitted on a pool.

    ``x = l2norm((1 + log tf) * idf)`` with ``idf = 1 + log((1 + n) / (1 + df))``
    (Manning et al. 2008 §6.2-6.4), computed by ``strategies.ngrams.NgramTfidf`` (equal to
    scikit-learn's ``TfidfVectorizer``). Picklable: the platform stores one per project.
    """

    kind = "vocabulary"
    tfidf_: NgramTfidf

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A vectorizer pickled when ``tfidf_`` was sklearn's loads as the same vocabulary."""
        if isinstance(state.get("tfidf_"), TfidfVectorizer):
            state = {**state, "tfidf_": NgramTfidf.from_sklearn(state["tfidf_"])}
        self.__dict__.update(state)

    def fit(self, texts: Sequence[str]) -> TextVectorizer:
        """Fit on ``texts`` without making their rows (a sample of a larger pool)."""
        self._fit(texts, rows=False)
        return self

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Fit on ``texts`` and return their rows, equal to ``fit(texts).transform(texts)``.

        The fit counts every text's terms anyway; its rows come from those counts, so the
        texts a pool's vocabulary is fitted on need no second pass to be featurised.
        """
        rows = self._fit(texts, rows=True)
        assert rows is not None
        return rows

    def _fit(self, texts: Sequence[str], *, rows: bool) -> sp.csr_matrix | None:
        docs = _clean(texts)
        if not docs:
            raise ValueError("cannot fit a vocabulary on no texts")
        min_df = 2 if len(docs) >= MIN_DF_POOL else 1
        for floor in (min_df, 1):
            self.tfidf_ = NgramTfidf(
                ngram_range=(1, 2), min_df=floor, max_features=MAX_VOCABULARY, sublinear_tf=True
            )
            try:
                if rows:
                    return self.tfidf_.fit_transform(docs)
                self.tfidf_.fit(docs)
                return None
            except ValueError:  # no term left (every text empty or unique): keep all
                continue
        # Not even one word in the pool (digits, punctuation): characters instead. The fit
        # sees an empty text as " ", the rows do not (as `transform` gives them).
        self.tfidf_ = NgramTfidf(analyzer="char", sublinear_tf=True)
        self.tfidf_.fit([d or " " for d in docs])
        return self.transform(docs) if rows else None

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Rows for ``texts`` over the fitted vocabulary (unknown terms are ignored)."""
        return self.tfidf_.transform(_clean(texts))

    @property
    def n_features(self) -> int:
        return len(self.tfidf_.keys_)


def _clean(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a sequence of strings, not one string")
    return ["" if t is None else str(t) for t in texts]


def pool_text_features(texts: Sequence[str]) -> tuple[TextVectorizer, sp.csr_matrix]:
    """Fit the vocabulary on ``texts`` (the pool) and return it with their rows."""
    vectorizer = TextVectorizer()
    return vectorizer, vectorizer.fit_transform(texts)


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
