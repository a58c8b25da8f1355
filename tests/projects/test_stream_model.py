"""The stream's one-row fast path gives what the library gives (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from projects.stream.model import Scorer, hashed_rows_csr, hashed_text, text_row
from strategies.features import text_features
from strategies.models import train_model

TEXTS = [
    "the cat sat on the mat",
    "stocks fell sharply today",
    "Cats, cats and more CATS!",
    "interest rates rose at the bank",
    "a dog and a cat",
    "bond yields fell",
    "ünïcödé text 42",
]


@pytest.mark.parametrize("text", [*TEXTS, "x", "the the the the"])
def test_text_row_equals_the_library_features(text: str) -> None:
    fast, reference = text_row(text), text_features([text])
    assert fast.shape == reference.shape
    assert np.allclose(fast.toarray(), reference.toarray(), atol=1e-7)


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_compiled_text_model_matches_predict_proba(n_classes: int) -> None:
    y = np.arange(len(TEXTS)) % n_classes
    model = train_model(text_features(TEXTS), y, n_classes + 1, random_state=0)
    scorer = Scorer(model)
    for text in [*TEXTS, "an unseen sentence about cats and stocks"]:
        X = text_features([text])
        expected = model.predict_proba(X)[0]
        assert np.allclose(scorer.proba(X), expected, atol=1e-9)
    assert scorer.fast and scorer.checked
    assert scorer.proba(X)[n_classes] == 0.0  # a label nobody used yet


def test_compiled_dense_and_single_class_models_match() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = (X[:, 0] > 0).astype(int)
    dense = train_model(X, y, 2, random_state=0)
    single = train_model(X[:5], np.zeros(5, dtype=int), 3, random_state=0)
    for model in (dense, single):
        scorer = Scorer(model)
        for row in X[:6]:
            assert np.allclose(scorer.proba(row[None, :]), model.predict_proba(row[None, :])[0])
        assert scorer.fast


def test_a_model_it_cannot_compile_is_used_as_is() -> None:
    class Odd:
        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return np.array([[0.25, 0.75]])

    scorer = Scorer(Odd())
    assert not scorer.fast and list(scorer.proba(np.zeros((1, 3)))) == [0.25, 0.75]


def test_hashed_rows_stack_and_score_as_the_matrix_does() -> None:
    rows = [hashed_text(t) for t in TEXTS]
    stacked, reference = hashed_rows_csr(rows), text_features(TEXTS)
    assert np.allclose(stacked.toarray(), reference.toarray(), atol=1e-7)
    model = train_model(reference, np.arange(len(TEXTS)) % 3, 3, random_state=0)
    scorer = Scorer(model)
    for row, text in zip(rows, TEXTS, strict=True):
        expected = model.predict_proba(text_features([text]))[0]
        assert np.allclose(scorer.proba(row), expected, atol=1e-9)
