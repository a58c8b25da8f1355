"""Span agreement against seqeval, nervaluate and krippendorff; token-vote consensus."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score

from annotator.quality.agreement import krippendorff_alpha
from strategies.spans.agreement import (
    exact_span_f1,
    pairwise_span_agreement,
    span_consensus,
    span_f1,
    token_units,
    token_vote,
)
from strategies.spans.tokens import Span, spans_to_tags, tokenize

A = [[Span(0, 5, "PER"), Span(10, 15, "LOC")], []]
B = [[Span(0, 5, "PER"), Span(10, 14, "LOC")], [Span(0, 3, "ORG")]]


def test_hand_checked_exact_partial_and_overlap_f1() -> None:
    # exact: 1 shared of 2 + 3 spans. partial (SemEval'13): COR 1, PAR 1, SPU 1 ->
    # P = 1.5 / 3, R = 1.5 / 2, F1 = 0.6. overlap (same type): COR 2, SPU 1 -> 0.8
    assert span_f1(A, B) == pytest.approx({"exact": 0.4, "partial": 0.6, "overlap": 0.8})


def test_no_spans_at_all_gives_no_figure() -> None:
    assert span_f1([[], []], [[], []]) == {"exact": None, "partial": None, "overlap": None}


def test_pairs_cover_the_items_both_annotated() -> None:
    items = {1: {"ann": A[0], "bob": B[0]}, 2: {"ann": A[1], "bob": B[1]}, 3: {"cy": []}}
    pairs = pairwise_span_agreement(items)
    assert [(p["a"], p["b"], p["n"]) for p in pairs] == [
        ("ann", "bob", 2),
        ("ann", "cy", 0),
        ("bob", "cy", 0),
    ]
    assert pairs[0]["exact"] == pytest.approx(0.4) and pairs[1]["exact"] is None


WORDS = st.lists(st.sampled_from(["ab", "cd", "ef", "gh"]), min_size=1, max_size=10)


@st.composite
def annotated(draw: st.DrawFn) -> tuple[str, list[Span]]:
    text = " ".join(draw(WORDS))
    tokens = tokenize(text)
    cuts = sorted(draw(st.sets(st.integers(0, len(tokens)), max_size=6)))
    spans = [
        Span(tokens[a].start, tokens[b - 1].end, draw(st.sampled_from(["X", "Y"])))
        for a, b in zip(cuts[::2], cuts[1::2], strict=False)
    ]
    return text, spans


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(annotated(), st.data()), min_size=1, max_size=5))
def test_exact_f1_equals_seqeval_between_two_annotators(cases) -> None:  # type: ignore[no-untyped-def]
    a_docs, b_docs, a_tags, b_tags = [], [], [], []
    for (text, spans), data in cases:
        other = data.draw(st.lists(st.sampled_from(spans), unique=True)) if spans else []
        tokens = tokenize(text)
        a_docs.append(spans)
        b_docs.append(other)
        a_tags.append(spans_to_tags(tokens, spans, len(text)))
        b_tags.append(spans_to_tags(tokens, other, len(text)))
    ours = exact_span_f1(a_docs, b_docs)
    if ours is not None:
        assert ours == pytest.approx(f1_score(a_tags, b_tags, zero_division=0))


TEXTS = {1: "Ada met Bob in Rome", 2: "Rome is far"}
ITEMS = {
    1: {"a": [Span(0, 3, "PER"), Span(15, 19, "LOC")], "b": [Span(0, 3, "PER")]},
    2: {"a": [Span(0, 4, "LOC")], "b": [Span(0, 4, "LOC")], "c": [Span(0, 4, "PER")]},
}


def test_token_units_feed_krippendorffs_alpha() -> None:
    units, coders, values, names = token_units(TEXTS, ITEMS)
    assert names == ["O", "LOC", "PER"]
    assert len(set(units.tolist())) == 5 + 3  # every token of both items is a unit
    data = np.full((3, 8), np.nan)
    data[coders, units] = values
    reference = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha(units, coders, values, len(names)) == pytest.approx(reference)
    # hand: one token (Rome, item 1) split O/LOC; one token (Rome, item 2) LOC/LOC/PER
    assert 0 < reference < 1


def test_items_with_one_annotator_are_no_units() -> None:
    units, _, _, _ = token_units({1: "Ada"}, {1: {"a": [Span(0, 3, "PER")]}})
    assert len(units) == 0


def test_token_vote_takes_the_majority_and_refuses_ties() -> None:
    assert token_vote([["B-X", "O"], ["B-X", "O"], ["O", "O"]]) == ["B-X", "O"]
    assert token_vote([["B-X", "O"], ["O", "O"]]) is None
    assert token_vote([["B-X", "O"], ["O", "O"]], weights=[2.0, 1.0]) == ["B-X", "O"]


def test_consensus_spans_come_back_as_character_spans() -> None:
    text = "Ada met Bob in Rome"
    votes = [
        [Span(0, 3, "PER"), Span(15, 19, "LOC")],
        [Span(0, 3, "PER")],
        [Span(0, 3, "PER"), Span(15, 19, "LOC")],
    ]
    assert span_consensus(text, votes) == [Span(0, 3, "PER"), Span(15, 19, "LOC")]
    assert span_consensus(text, votes[:2]) is None
