"""Word and character n-grams, counted and weighted with numpy: one rule for n-grams.

Equal to scikit-learn's ``CountVectorizer`` / ``TfidfVectorizer`` / ``HashingVectorizer``
(lowercase, token pattern ``(?u)\\b\\w\\w+\\b``, n-grams joined by a space; characters
after collapsing whitespace runs), without their Python loop over every n-gram of every
document: a document's tokens are found by one regex call, every token becomes an integer
once, and n-grams are integer keys that numpy sorts and counts.

Why keys sort like terms: token ids are the ranks of the distinct tokens in string order,
and an n-gram's key is ``a * (U + 1) + (b + 1)`` (``b = -1`` for a unigram). Since no token
holds a character below the joining space, ``"a b"`` sorts against any other term as the
tuple ``(a, b)`` does, so sorted keys are the alphabetical vocabulary scikit-learn builds.
At most bigrams (``ngram_range`` up to ``(1, 2)``); keys stay below 2**63 for 3e9 tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils import murmurhash3_32

Analyzer = Literal["word", "char"]

# sklearn's token pattern (?u)\b\w\w+\b finds the same words: a run of 2+ word
# characters is matched whole, so both of its ends are word boundaries.
WORDS = re.compile(r"\w{2,}|\x00")
# On ASCII text \w is [A-Za-z0-9_]: every other byte becomes a space and bytes.split()
# finds the runs, twice as fast as the regex (the one-letter runs are dropped after).
ASCII_WORD_BYTES = bytes(
    c if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "_\x00") else 32 for c in range(256)
)
WHITESPACE = re.compile(r"\s\s+")
SEPARATOR = "\x00"  # between documents: not a word character, not case-ignorable
JOINER: dict[str, str] = {"word": " ", "char": ""}


@dataclass(frozen=True)
class Units:
    """The documents' tokens (words or characters) as ids into ``names`` (sorted)."""

    names: list[str]
    ids: np.ndarray  # int64, every document's tokens one after another
    doc: np.ndarray  # int64, the document of each token


def units(docs: Sequence[str], analyzer: Analyzer) -> Units:
    """Lowercased tokens of ``docs``: words of 2+ word characters, or characters after
    collapsing whitespace runs. One regex call over the documents joined by
    ``SEPARATOR`` (lowercasing is per character, so joining first changes nothing)."""
    joined = SEPARATOR.join(docs)
    if joined.count(SEPARATOR) != max(len(docs) - 1, 0):
        return _units_each(docs, analyzer)
    joined = joined.lower()
    if analyzer == "word" and joined.isascii():
        runs = joined.encode("ascii").translate(ASCII_WORD_BYTES).replace(b"\x00", b" \x00 ")
        names, ids = _factorize(runs.split())
        names, ids = _words_only([n.decode("ascii") for n in names], ids)
    else:
        tokens = WORDS.findall(joined) if analyzer == "word" else WHITESPACE.sub(" ", joined)
        names, ids = _factorize(tokens)
    if len(docs) < 2:
        return Units(names, ids, np.zeros(len(ids), dtype=np.int64))
    separator = ids == 0  # SEPARATOR sorts first
    return Units(names[1:], ids[~separator] - 1, np.cumsum(separator)[~separator])


def _units_each(docs: Sequence[str], analyzer: Analyzer) -> Units:
    """`units` one document at a time, for documents that hold ``SEPARATOR``."""
    lowered = [d.lower() for d in docs]
    pieces: list[Any]
    if analyzer == "word":
        pieces = [[w for w in WORDS.findall(d) if w != SEPARATOR] for d in lowered]
    else:
        pieces = [WHITESPACE.sub(" ", d) for d in lowered]  # a string is its characters
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    names, ids = _factorize(list(chain.from_iterable(pieces)))
    return Units(names, ids, np.repeat(np.arange(len(docs), dtype=np.int64), lengths))


def _words_only(names: list[str], ids: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Drop the one-character runs (not words), keeping ``SEPARATOR``; ranks are kept in
    order, renumbered."""
    keep = np.fromiter((len(n) > 1 or n == SEPARATOR for n in names), bool, len(names))
    rank = np.cumsum(keep) - 1
    return [n for n, k in zip(names, keep.tolist(), strict=True) if k], rank[ids[keep[ids]]]


def _factorize(tokens: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """The distinct tokens, sorted, and each token's rank among them."""
    names = sorted(set(tokens))
    index = dict(zip(names, range(len(names)), strict=True))
    return names, np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))


def ngram_keys(
    ids: np.ndarray, doc: np.ndarray, n_units: int, ngram_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram occurrence as ``(key, document)``; unknown units (id -1) form none."""
    base = n_units + 1
    keys, docs = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    all_known = not len(ids) or ids.min() >= 0
    if ngram_range[0] == 1:
        known = slice(None) if all_known else ids >= 0
        keys.append(ids[known] * base)
        docs.append(doc[known])
    if ngram_range[1] == 2:
        pair = doc[1:] == doc[:-1]
        if not all_known:
            pair &= (ids[1:] >= 0) & (ids[:-1] >= 0)
        left = np.flatnonzero(pair)
        key = ids[left]
        key *= base
        key += ids[left + 1]
        key += 1
        keys.append(key)
        docs.append(doc[left])
    return np.concatenate(keys), np.concatenate(docs)


def key_terms(keys: np.ndarray, names: Sequence[str], joiner: str) -> list[str]:
    """The term strings of n-gram ``keys`` over the units ``names``."""
    first, second = np.divmod(keys, len(names) + 1)
    return [
        names[a] if b == 0 else names[a] + joiner + names[b - 1]
        for a, b in zip(first.tolist(), second.tolist(), strict=True)
    ]


def term_counts(
    keys: np.ndarray, docs: np.ndarray, n_docs: int
) -> tuple[np.ndarray, sp.csc_matrix]:
    """The distinct ``keys`` (sorted) and the (document, key) counts, one column per key.

    One sort of ``key << b | document`` (b bits hold a document number): runs of equal
    values are one document's occurrences of one key, already in CSC order.
    """
    shift = _doc_bits(n_docs)
    distinct = None
    if len(keys) and int(keys.max()) >= 2 ** (62 - shift):  # billions of units: rank first
        distinct, keys = np.unique(keys, return_inverse=True)
    pairs = keys << shift
    pairs |= docs
    return _runs(pairs, shift, n_docs, distinct)


def ngram_counts(
    ids: np.ndarray, doc: np.ndarray, n_units: int, ngram_range: tuple[int, int], n_docs: int
) -> tuple[np.ndarray, sp.csc_matrix]:
    """``term_counts(*ngram_keys(...))``, each n-gram written straight as its sort value
    ``key << b | document`` into one array (no key and document arrays to join)."""
    shift, base = _doc_bits(n_docs), n_units + 1
    if base * base >= 2 ** (62 - shift) or (len(ids) and ids.min() < 0):
        return term_counts(*ngram_keys(ids, doc, n_units, ngram_range), n_docs)
    unigrams = len(ids) if ngram_range[0] == 1 else 0
    left = np.flatnonzero(doc[1:] == doc[:-1]) if ngram_range[1] == 2 else np.zeros(0, np.int64)
    packed = np.empty(unigrams + len(left), dtype=np.int64)
    if unigrams:
        np.multiply(ids, base << shift, out=packed[:unigrams])
        packed[:unigrams] |= doc
    pairs = packed[unigrams:]
    np.take(ids, left, out=pairs)
    pairs *= base
    pairs += ids[left + 1]
    pairs += 1
    pairs <<= shift
    pairs |= doc[left]
    return _runs(packed, shift, n_docs, None)


def _doc_bits(n_docs: int) -> int:
    return max(n_docs - 1, 1).bit_length()


def _runs(
    pairs: np.ndarray, shift: int, n_docs: int, distinct: np.ndarray | None
) -> tuple[np.ndarray, sp.csc_matrix]:
    """Sort packed ``key << shift | document`` values in place and count their runs."""
    pairs.sort()
    change = np.ones(len(pairs), dtype=bool)
    np.not_equal(pairs[1:], pairs[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    # run lengths and documents written straight in their dtypes (no int64 temporaries)
    counts = np.empty(len(starts), dtype=np.float32)
    np.subtract(starts[1:], starts[:-1], out=counts[:-1], casting="unsafe")
    counts[-1:] = len(pairs) - starts[-1:]
    pairs = pairs[starts]
    doc = np.empty(len(pairs), dtype=np.int32 if n_docs < 2**31 else np.int64)
    np.bitwise_and(pairs, (1 << shift) - 1, out=doc, casting="unsafe")
    pairs >>= shift  # the key of each (document, key)
    new_key = np.ones(len(pairs), dtype=bool)
    np.not_equal(pairs[1:], pairs[:-1], out=new_key[1:])
    indptr = np.append(np.flatnonzero(new_key), len(pairs))
    terms = pairs[new_key] if distinct is None else distinct[pairs[new_key]]
    return terms, sp.csc_matrix((counts, doc, indptr), shape=(n_docs, len(terms)))


def counts_over(table: np.ndarray, terms: np.ndarray, counts: sp.csc_matrix) -> sp.csr_matrix:
    """``counts`` (columns ``terms``, sorted) moved to the columns of ``table`` (sorted
    keys); terms not in the table are dropped."""
    pos = np.minimum(np.searchsorted(table, terms), max(len(table) - 1, 0))
    hit = table[pos] == terms if len(table) else np.zeros(len(terms), dtype=bool)
    kept = counts[:, np.flatnonzero(hit)]
    per_column = np.zeros(len(table), dtype=np.int64)
    per_column[pos[hit]] = np.diff(kept.indptr)
    indptr = np.append(0, np.cumsum(per_column))
    moved = sp.csc_matrix((kept.data, kept.indices, indptr), shape=(counts.shape[0], len(table)))
    return sp.csr_matrix(moved.tocsr(), dtype=np.float32)


def tfidf_rows(counts: sp.csr_matrix, idf: np.ndarray | None, sublinear_tf: bool) -> sp.csr_matrix:
    """``l2norm(w(tf) * idf)`` with ``w(tf) = 1 + log tf`` if sublinear, as scikit-learn's
    ``TfidfTransformer.transform`` computes it (the same float32 steps)."""
    if sublinear_tf:
        np.log(counts.data, out=counts.data)
        counts.data += 1.0
    if idf is not None:
        counts.data *= idf[counts.indices]
    if not counts.shape[0]:  # sklearn's normalize refuses no rows
        return counts
    return sp.csr_matrix(normalize(counts, norm="l2", copy=False), dtype=np.float32)


def hashed_counts(
    docs: Sequence[str], n_features: int, ngram_range: tuple[int, int]
) -> sp.csr_matrix:
    """Word n-gram counts hashed into ``n_features`` columns, as ``HashingVectorizer``
    (``alternate_sign=False``, ``norm=None``): column ``|murmurhash3_32(term)| % n``.
    Each distinct term of ``docs`` is hashed once."""
    found = units(docs, "word")
    terms, counts = ngram_counts(found.ids, found.doc, len(found.names), ngram_range, len(docs))
    names = key_terms(terms, found.names, " ")
    h = np.fromiter(map(murmurhash3_32, names), dtype=np.int64, count=len(names))  # seed 0
    # as sklearn's _hashing_fast, which defines abs(-2**31) so
    column = np.where(
        h == -(2**31), (2**31 - 1 - (n_features - 1)) % n_features, np.abs(h) % n_features
    )
    coo = counts.tocoo()
    X = sp.csr_matrix(
        (coo.data, (coo.row, column[coo.col])), shape=(len(docs), n_features), dtype=np.float32
    )
    X.sum_duplicates()
    return X


class NgramTfidf:
    """Vocabulary TF-IDF over n-grams, equal to scikit-learn's ``TfidfVectorizer`` with
    the same ``analyzer``, ``ngram_range``, ``min_df`` (a count), ``max_features`` and
    ``sublinear_tf`` (lowercase, smooth idf, l2 norm, float32).

    ``idf = 1 + log((1 + n) / (1 + df))``; the vocabulary is the terms in at least
    ``min_df`` documents, the ``max_features`` most frequent of them (ties as sklearn's
    ``argsort`` leaves them), in alphabetical order. Fitted state: the vocabulary's units
    (``units_``, sorted), its n-gram keys over them (``keys_``, sorted, column ``j`` is
    ``keys_[j]``) and ``idf_``.
    """

    def __init__(
        self,
        *,
        analyzer: Analyzer = "word",
        ngram_range: tuple[int, int] = (1, 1),
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = False,
    ) -> None:
        if not (1 <= ngram_range[0] <= ngram_range[1] <= 2):
            raise ValueError("ngram_range must be (1, 1), (1, 2) or (2, 2)")
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf

    def fit(self, docs: Sequence[str]) -> NgramTfidf:
        """Fit the vocabulary and idf on ``docs``; their rows are not made (a sample's)."""
        self._fit(docs)
        return self

    def fit_transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        """Fit the vocabulary and idf on ``docs`` and return their rows (indices sorted)."""
        all_counts, kept = self._fit(docs)
        if len(kept) < all_counts.shape[1]:
            all_counts = all_counts[:, kept]
        counts = sp.csr_matrix(all_counts.tocsr(), dtype=np.float32)
        del all_counts
        return tfidf_rows(counts, self.idf_, self.sublinear_tf)

    def _fit(self, docs: Sequence[str]) -> tuple[sp.csc_matrix, np.ndarray]:
        """Fit; the counts of every term of ``docs`` (CSC) and the columns kept."""
        found = units(docs, self.analyzer)
        terms, all_counts = ngram_counts(
            found.ids, found.doc, len(found.names), self.ngram_range, len(docs)
        )
        if not len(terms):
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        kept = self._kept(all_counts)
        self._store_vocabulary(terms[kept], found.names)
        self.idf_ = smooth_idf(np.diff(all_counts.indptr)[kept], len(docs))
        return all_counts, kept

    def _kept(self, counts: sp.csc_matrix) -> np.ndarray:
        """Columns kept, as sklearn's ``CountVectorizer._limit_features`` picks them."""
        mask = np.diff(counts.indptr) >= self.min_df
        limit = self.max_features
        if limit is not None and mask.sum() > limit:
            tfs = np.asarray(counts.sum(axis=0)).ravel()
            chosen = np.zeros_like(mask)
            chosen[np.flatnonzero(mask)[(-tfs[mask]).argsort()[:limit]]] = True
            mask = chosen
        if not mask.any():
            raise ValueError(
                "After pruning, no terms remain. Try a lower min_df or a higher max_df."
            )
        return np.flatnonzero(mask)

    def _store_vocabulary(self, keys: np.ndarray, names: Sequence[str]) -> None:
        """Keep only the units the vocabulary uses, renumbered (in the same order)."""
        first, second = np.divmod(keys, len(names) + 1)
        used = np.unique(np.concatenate([first, second[second > 0] - 1]))
        self.units_ = [names[i] for i in used.tolist()]
        base = len(self.units_) + 1
        a = np.searchsorted(used, first)
        b = np.where(second > 0, np.searchsorted(used, second - 1) + 1, 0)
        self.keys_ = a * base + b

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        """Rows of ``docs`` over the fitted vocabulary; unknown terms are ignored."""
        found = units(docs, self.analyzer)
        index = dict(zip(self.units_, range(len(self.units_)), strict=True))
        fitted = np.fromiter((index.get(u, -1) for u in found.names), np.int64, len(found.names))
        terms, counts = ngram_counts(
            found.ids, found.doc, len(found.names), self.ngram_range, len(docs)
        )
        return tfidf_rows(
            counts_over(self.keys_, self._fitted_keys(terms, fitted), counts),
            self.idf_,
            self.sublinear_tf,
        )

    def _fitted_keys(self, terms: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        """Keys over the documents' own units as keys over the fitted units (-1: a unit
        not fitted). Both rank units alphabetically, so sorted keys stay sorted."""
        first, second = np.divmod(terms, len(fitted) + 1)
        a, b = fitted[first], fitted[np.maximum(second - 1, 0)]
        keys = a * (len(self.units_) + 1) + np.where(second > 0, b + 1, 0)
        keys[(a < 0) | ((second > 0) & (b < 0))] = -1
        return keys

    @property
    def vocabulary_(self) -> dict[str, int]:
        """Term -> column, as sklearn's ``vocabulary_``."""
        terms = key_terms(self.keys_, self.units_, JOINER[self.analyzer])
        return dict(zip(terms, range(len(terms)), strict=True))

    @classmethod
    def from_sklearn(cls, fitted: Any) -> NgramTfidf:
        """The same vectorizer from a fitted sklearn ``TfidfVectorizer`` (its vocabulary
        and idf), so rows stored by a model written with one are computed again."""
        ours = cls(
            analyzer=fitted.analyzer,
            ngram_range=tuple(fitted.ngram_range),  # type: ignore[arg-type]
            min_df=fitted.min_df,
            max_features=fitted.max_features,
            sublinear_tf=fitted.sublinear_tf,
        )
        terms = sorted(fitted.vocabulary_, key=fitted.vocabulary_.__getitem__)
        split = (lambda t: t.split(" ")) if fitted.analyzer == "word" else list
        parts = [split(t) for t in terms]
        ours.units_ = sorted({u for p in parts for u in p})
        index = {u: i for i, u in enumerate(ours.units_)}
        base = len(ours.units_) + 1
        keys = [index[p[0]] * base + (index[p[1]] + 1 if len(p) > 1 else 0) for p in parts]
        ours.keys_ = np.array(keys, dtype=np.int64)
        if np.any(np.diff(ours.keys_) <= 0):
            raise ValueError("the vocabulary's columns are not in term order")
        ours.idf_ = np.asarray(fitted.idf_, dtype=np.float32)
        return ours


def smooth_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """``1 + log((1 + n) / (1 + df))`` in float32, as sklearn's ``TfidfTransformer.fit``."""
    df = df.astype(np.float32)
    df += 1.0
    idf = np.full_like(df, fill_value=n_docs + 1, dtype=np.float32)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    return idf
