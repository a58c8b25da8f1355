"""Tokens keep offsets; spans <-> BIO tags; tag readers agree with seqeval."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from strategies.spans.tokens import (
    Span,
    SpanError,
    snap_spans,
    spans_to_tags,
    tag_runs,
    tags_to_spans,
    token_range,
    tokenize,
)

TEXT = "Dr. Ada Lovelace met O'Neil in London-on-Sea, 1843."


def test_tokens_keep_their_character_offsets() -> None:
    tokens = tokenize(TEXT)
    assert [t.text for t in tokens][:6] == ["Dr", ".", "Ada", "Lovelace", "met", "O'Neil"]
    assert all(TEXT[t.start : t.end] == t.text for t in tokens)


@given(st.text(max_size=80))
def test_every_token_is_the_text_at_its_offsets(text: str) -> None:
    tokens = tokenize(text)
    assert all(text[t.start : t.end] == t.text and t.text.strip() for t in tokens)
    assert all(a.end <= b.start for a, b in zip(tokens, tokens[1:], strict=False))


def test_spans_become_bio_tags_and_back() -> None:
    tokens = tokenize(TEXT)
    london = TEXT.index("London")
    spans = [Span(4, 16, "PER"), Span(london, london + 13, "LOC")]
    tags = spans_to_tags(tokens, spans, len(TEXT))
    assert tags[2:4] == ["B-PER", "I-PER"]
    assert tags[7:12] == ["B-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC"]
    assert tags_to_spans(tokens, tags) == spans


def test_a_span_inside_a_token_snaps_outward_to_the_token() -> None:
    assert snap_spans(TEXT, [Span(6, 10, "PER")]) == [Span(4, 16, "PER")]


def test_spans_sharing_a_token_are_refused() -> None:
    with pytest.raises(SpanError, match="overlaps"):
        snap_spans(TEXT, [Span(4, 7, "PER"), Span(6, 16, "PER")])


@pytest.mark.parametrize("span", [Span(-1, 3, "X"), Span(3, 3, "X"), Span(0, 999, "X")])
def test_spans_outside_the_text_or_empty_are_refused(span: Span) -> None:
    with pytest.raises(SpanError):
        snap_spans(TEXT, [span])


def test_a_span_on_whitespace_only_is_refused() -> None:
    with pytest.raises(SpanError, match="no token"):
        snap_spans("a   b", [Span(2, 3, "X")])


@st.composite
def token_aligned(draw: st.DrawFn) -> tuple[str, list[Span]]:
    words = draw(
        st.lists(st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True), min_size=1, max_size=12)
    )
    text = " ".join(words)
    tokens = tokenize(text)
    cuts = sorted(draw(st.sets(st.integers(0, len(tokens)), max_size=6)))
    spans = [
        Span(tokens[a].start, tokens[b - 1].end, draw(st.sampled_from(["PER", "LOC"])))
        for a, b in zip(cuts[::2], cuts[1::2], strict=False)
        if b > a
    ]
    return text, spans


@given(token_aligned())
def test_token_aligned_spans_round_trip_through_tags(case: tuple[str, list[Span]]) -> None:
    text, spans = case
    tokens = tokenize(text)
    assert tags_to_spans(tokens, spans_to_tags(tokens, spans, len(text))) == sorted(spans)


TAGS = st.sampled_from(["O", "B-X", "I-X", "B-Y", "I-Y", "E-X", "S-Y", "E-Y", "S-X"])


@settings(max_examples=300)
@given(st.lists(TAGS, max_size=15))
def test_tag_runs_read_entities_as_seqeval_does(tags: list[str]) -> None:
    ours = [(label, a, b - 1) for a, b, label in tag_runs(tags)]
    assert ours == get_entities(tags)


@given(st.text(alphabet="ab .,-", min_size=1, max_size=30), st.data())
def test_a_span_touches_exactly_the_tokens_it_overlaps(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    tokens = tokenize(text)
    touched = [i for i, t in enumerate(tokens) if t.start < end and t.end > start]
    if not touched:
        with pytest.raises(SpanError, match="no token"):
            token_range(tokens, Span(start, end, "X"), len(text))
    else:
        assert token_range(tokens, Span(start, end, "X"), len(text)) == (
            touched[0],
            touched[-1] + 1,
        )
