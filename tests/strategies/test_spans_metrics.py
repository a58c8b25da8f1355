"""Entity-level P/R/F1 equal seqeval's; bootstrap intervals are seeded and bracket them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score, precision_score, recall_score

from strategies.spans.metrics import evaluate_spans, prf_from_counts, sentence_counts

TRUE = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-PER"]]
PRED = [["B-PER", "I-PER", "O", "O"], ["O", "B-LOC"]]


def test_hand_checked_entity_scores() -> None:
    m = evaluate_spans(TRUE, PRED)
    # true: PER(0-1), LOC(3), PER(1'); predicted: PER(0-1), LOC(1'); one match
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((1 / 2, 1 / 3, 0.4))
    assert m["n"] == 2 and m["entities"] == 3
    assert m["f1_low"] <= m["f1"] <= m["f1_high"]


def test_intervals_are_seeded() -> None:
    assert evaluate_spans(TRUE, PRED, random_state=5) == evaluate_spans(TRUE, PRED, random_state=5)


def test_an_empty_holdout_has_no_figures() -> None:
    assert evaluate_spans([], [])["f1"] is None


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        evaluate_spans([["O", "O"]], [["O"]])


TAG = st.sampled_from(["O", "O", "B-X", "I-X", "B-Y", "I-Y"])


@st.composite
def tag_pairs(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    lengths = draw(st.lists(st.integers(1, 8), min_size=1, max_size=8))
    true = [draw(st.lists(TAG, min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(TAG, min_size=n, max_size=n)) for n in lengths]
    return true, pred


@settings(max_examples=150, deadline=None)
@given(tag_pairs())
def test_counts_reproduce_seqeval(pair: tuple[list[list[str]], list[list[str]]]) -> None:
    true, pred = pair
    p, r, f = prf_from_counts(sentence_counts(true, pred).sum(axis=0))
    assert p == pytest.approx(precision_score(true, pred, zero_division=0))
    assert r == pytest.approx(recall_score(true, pred, zero_division=0))
    assert f == pytest.approx(f1_score(true, pred, zero_division=0))


def test_a_perfect_prediction_has_a_degenerate_interval() -> None:
    m = evaluate_spans(TRUE, TRUE)
    assert m["f1"] == m["f1_low"] == m["f1_high"] == 1.0
    assert np.isclose(m["recall_low"], 1.0)
