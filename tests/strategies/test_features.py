from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from strategies.features import (
    N_TEXT_FEATURES,
    TextVectorizer,
    stack_rows,
    text_features,
    vector_features,
)


def test_text_features_are_l2_normalised_float32_csr() -> None:
    X = text_features(["the cat sat", "the cat sat on the mat", ""])
    assert sp.issparse(X) and X.format == "csr"
    assert X.shape == (3, N_TEXT_FEATURES) and X.dtype == np.float32
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, [1.0, 1.0, 0.0], atol=1e-6)


def test_text_features_are_stateless_and_rows_stack() -> None:
    both = text_features(["alpha beta", "gamma delta"])
    one, two = text_features(["alpha beta"]), text_features(["gamma delta"])
    stacked = stack_rows([one, two])
    assert (both != stacked).nnz == 0


def test_sublinear_term_frequency() -> None:
    # "a a a b": tf(a)=3 -> 1+log 3, tf(b)=1 -> 1, bigrams "a a" (2), "a b" (1).
    X = text_features(["aa aa aa bb"]).toarray().ravel()
    values = np.sort(X[X > 0])
    raw = np.sort([1 + np.log(3), 1.0, 1 + np.log(2), 1.0])
    np.testing.assert_allclose(values, raw / np.linalg.norm(raw), rtol=1e-5)


def test_text_features_reject_a_single_string() -> None:
    with pytest.raises(TypeError):
        text_features("not a list")  # type: ignore[arg-type]


def test_vector_features_reject_ragged_and_nan_rows() -> None:
    assert vector_features([[1, 2], [3, 4]]).dtype == np.float32
    with pytest.raises(ValueError):
        vector_features([[1.0, float("nan")]])
    with pytest.raises(ValueError):
        vector_features([[1.0], [1.0, 2.0]])


def _same_rows(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


@pytest.mark.parametrize(
    "texts",
    [
        # a pool (min_df 2, sorted and pruned columns), with repeats and an empty text
        [f"Topic {i % 7} word{i % 13} and word{i % 5} Straße the the {i}" for i in range(120)]
        + ["", "Ünïcode STRASSE straße"],
        ["alpha beta", "gamma", ""],  # few texts: min_df 1
        ["!!", "?", ""],  # no word at all: characters
    ],
)
def test_a_vocabulary_fit_gives_the_rows_transform_gives(texts: list[str]) -> None:
    fitted = TextVectorizer()
    rows = fitted.fit_transform(texts)
    assert _same_rows(rows, fitted.transform(texts))
    assert _same_rows(rows, TextVectorizer().fit(texts).transform(texts))
    assert rows.has_sorted_indices
