"""strategies.ngrams gives scikit-learn's matrices, and old pickles still load."""

from __future__ import annotations

import pickle
from collections import Counter
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from strategies import ngrams
from strategies.features import N_TEXT_FEATURES, TextVectorizer, text_features
from strategies.ngrams import NgramTfidf, ngram_counts, ngram_keys, term_counts, units

TEXTS = [
    "The cat sat on the mat. The cat!",
    "",
    "Ünïcode STRASSE straße Straße — ΣΑΣ ὈΔΥΣΣΕΎΣ σοφός ΛΟΓΟΣ",  # final sigma, then a letter
    "İstanbul ǅemal ß ﬁne café café\u0301 naïve",
    "a, b; c!! dd-ee_ff 12 34 x1 __init__",
    "   tabs\tand\nnew\r\nlines   and  spaces  ",
    "!!! ??? ...",
    "the mat the mat the mat the cat",
    "数据 科学 データ 日本語のテキスト 中文",
    "emoji 🐱 cat 🐱🐱 mat",
    "nul\x00inside a text, word\x00word",
    "cat mat dog",
]


def random_texts(seed: int, n: int = 300, letters: str = "abcde ΣσÉé_1 .,-\n") -> list[str]:
    """Short texts over a small alphabet (repeats, ties, unicode, punctuation)."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(letters))
    lengths = rng.integers(0, 40, size=n)
    return ["".join(rng.choice(alphabet, size=k)) for k in lengths]


# ASCII texts take a faster regex (on bytes); a text holding NUL, the one by one path
ASCII = [t for t in TEXTS if t.isascii() and "\x00" not in t] + random_texts(
    6, letters="abcAB_1 .,\n"
)


def assert_same(ours: sp.csr_matrix, theirs: Any) -> None:
    theirs = sp.csr_matrix(theirs)
    theirs.sort_indices()
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert ours.has_sorted_indices
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-6, atol=1e-7)


SETTINGS = [
    {"ngram_range": (1, 2), "min_df": 2, "max_features": 2**18, "sublinear_tf": True},
    {"ngram_range": (1, 2), "min_df": 1, "max_features": 7, "sublinear_tf": True},  # ties
    {"ngram_range": (1, 1), "min_df": 1, "max_features": None, "sublinear_tf": False},
    {"ngram_range": (2, 2), "min_df": 1, "max_features": None, "sublinear_tf": True},
    {"analyzer": "char", "ngram_range": (1, 1), "min_df": 1, "sublinear_tf": True},
    {"analyzer": "char", "ngram_range": (1, 2), "min_df": 2, "max_features": 30},
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize(
    "texts", [TEXTS, TEXTS * 3 + random_texts(0), random_texts(1), ASCII, ASCII + ["a\x00b"]]
)
def test_ngram_tfidf_gives_sklearns_vocabulary_idf_and_rows(
    settings: dict[str, Any], texts: list[str]
) -> None:
    sklearn = TfidfVectorizer(dtype=np.float32, **settings)
    ours = NgramTfidf(**settings)
    assert_same(ours.fit_transform(texts), sklearn.fit_transform(texts))
    assert ours.vocabulary_ == sklearn.vocabulary_
    np.testing.assert_array_equal(ours.idf_, sklearn.idf_)
    unseen = [*random_texts(2, 50), "cat mat unseen words", "", "Σ σ"]
    assert_same(ours.transform(unseen), sklearn.transform(unseen))


@pytest.mark.parametrize("extra", [[], ["a\x00b"]])  # ASCII by bytes; one text at a time
def test_units_are_sklearns_tokens_for_every_ascii_character(extra: list[str]) -> None:
    rng = np.random.default_rng(0)
    alphabet = np.array([chr(c) for c in range(1, 128)] + ["a", "b"] * 30)
    texts = ["".join(rng.choice(alphabet, size=k)) for k in rng.integers(0, 60, 500)] + extra
    found = units(texts, "word")
    tokens = np.array(found.names, dtype=object)[found.ids]
    analyzer = CountVectorizer().build_analyzer()
    for i, text in enumerate(texts):
        assert tokens[found.doc == i].tolist() == analyzer(text)


def test_ngram_tfidf_of_one_text_and_of_none() -> None:
    sklearn, ours = TfidfVectorizer(dtype=np.float32), NgramTfidf()
    assert_same(
        ours.fit_transform(["only one text here"]), sklearn.fit_transform(["only one text here"])
    )
    assert ours.transform([]).shape == (0, 4)


def test_ngram_tfidf_rejects_texts_without_a_term_as_sklearn_does() -> None:
    for texts in (["!!", "?", ""], []):
        with pytest.raises(ValueError):
            TfidfVectorizer().fit(texts)
        with pytest.raises(ValueError):
            NgramTfidf().fit(texts)
    with pytest.raises(ValueError, match="no terms remain"):
        NgramTfidf(min_df=5).fit(["alpha beta", "gamma"])


def test_ngram_tfidf_refuses_trigrams() -> None:
    with pytest.raises(ValueError):
        NgramTfidf(ngram_range=(1, 3))


def test_keys_too_large_to_pack_are_ranked_first() -> None:
    keys = np.array([2**61, 5, 2**61, 5, 7], dtype=np.int64)
    docs = np.array([0, 1, 1, 1, 0], dtype=np.int64)
    terms, counts = term_counts(keys, docs, 2)
    assert terms.tolist() == [5, 7, 2**61]
    assert counts.toarray().tolist() == [[0, 1, 1], [2, 0, 1]]


@pytest.mark.parametrize("packable", [True, False])
def test_ngram_counts_count_each_documents_ngram_keys(packable: bool) -> None:
    found = units(TEXTS + random_texts(7), "word")
    n_units = len(found.names) if packable else 2**31  # too many to pack: keys ranked first
    n_docs = len(TEXTS) + 300
    terms, counts = ngram_counts(found.ids, found.doc, n_units, (1, 2), n_docs)
    keys, docs = ngram_keys(found.ids, found.doc, n_units, (1, 2))
    coo = counts.tocoo()
    pairs = zip(terms[coo.col].tolist(), coo.row.tolist(), strict=True)
    got = dict(zip(pairs, coo.data.tolist(), strict=True))
    assert got == Counter(zip(keys.tolist(), docs.tolist(), strict=True))
    assert counts.shape == (n_docs, len(terms)) and np.all(np.diff(terms) > 0)


@pytest.mark.parametrize("texts", [TEXTS, random_texts(3), ASCII])
def test_text_features_keep_hashing_vectorizers_columns(texts: list[str]) -> None:
    counts = HashingVectorizer(
        n_features=N_TEXT_FEATURES,
        ngram_range=(1, 2),
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    ).transform(texts)
    counts.data = np.log(counts.data) + 1.0
    assert_same(text_features(texts), normalize(counts))


def old_text_vectorizer(texts: list[str], **settings: Any) -> TextVectorizer:
    """A TextVectorizer as the code before strategies.ngrams fitted and pickled it."""
    old = TextVectorizer.__new__(TextVectorizer)
    old.__dict__["tfidf_"] = TfidfVectorizer(dtype=np.float32, sublinear_tf=True, **settings).fit(
        texts
    )
    return old


@pytest.mark.parametrize(
    ("texts", "settings"),
    [
        (TEXTS * 5 + random_texts(4), {"ngram_range": (1, 2), "min_df": 2, "max_features": 2**18}),
        (["!!", "?", " "], {"analyzer": "char"}),
    ],
)
def test_a_text_vectorizer_pickled_with_sklearn_inside_loads_and_transforms(
    texts: list[str], settings: dict[str, Any]
) -> None:
    old = old_text_vectorizer(texts, **settings)
    expected = old.tfidf_.transform(texts)  # type: ignore[call-arg]
    loaded = pickle.loads(pickle.dumps(old))
    assert isinstance(loaded.tfidf_, NgramTfidf)
    assert loaded.n_features == len(old.tfidf_.vocabulary_)
    assert_same(loaded.transform(texts), expected)
    assert_same(pickle.loads(pickle.dumps(loaded)).transform(texts), expected)


def test_text_vectorizer_fits_as_it_did_on_sklearn() -> None:
    texts = TEXTS * 5 + random_texts(5)
    fitted = TextVectorizer()
    rows = fitted.fit_transform(texts)
    expected = old_text_vectorizer(texts, ngram_range=(1, 2), min_df=2, max_features=2**18)
    assert fitted.tfidf_.vocabulary_ == expected.tfidf_.vocabulary_
    assert_same(rows, expected.tfidf_.transform(texts))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "texts",
    [TEXTS * 5 + random_texts(5), ["cat", "dog"], ["!!", "?", " "]],  # pruned, kept, chars
)
def test_a_fit_without_rows_fits_what_fit_transform_fits_and_makes_no_rows(
    texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large pool's vocabulary is fitted on a sample whose rows it never uses: `fit`
    does not weight or normalise them (a tenth of a 200k-text fit)."""
    rows = TextVectorizer()
    rows.fit_transform(texts)

    def refused(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("fit made rows")

    monkeypatch.setattr(ngrams, "tfidf_rows", refused)
    fitted = TextVectorizer().fit(texts)
    monkeypatch.undo()
    assert fitted.tfidf_.analyzer == rows.tfidf_.analyzer
    assert fitted.tfidf_.vocabulary_ == rows.tfidf_.vocabulary_
    np.testing.assert_array_equal(fitted.tfidf_.idf_, rows.tfidf_.idf_)
    assert_same(fitted.transform(texts), rows.transform(texts))
