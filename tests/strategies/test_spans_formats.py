"""CoNLL/IOB and JSONL to documents and back; errors name their line."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from strategies.spans.formats import (
    SpanDocument,
    document_from_tokens,
    read_conll,
    read_jsonl,
    write_conll,
    write_jsonl,
)
from strategies.spans.tokens import Span

CONLL = """-DOCSTART- -X- O O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter\tI-PER
Blackburn\tI-PER
in\tO
New\tS-LOC
York\tS-LOC
"""


def test_conll_files_become_texts_and_character_spans() -> None:
    result = read_conll(CONLL)
    assert not result.errors
    first, second = result.documents
    assert first.text == "EU rejects German call ."
    assert first.spans == (Span(0, 2, "ORG"), Span(11, 17, "MISC"))
    # IOB1 (I- opens an entity) and BIOES (each S- is its own entity)
    assert second.text == "Peter Blackburn in New York"
    assert second.spans == (Span(0, 15, "PER"), Span(19, 22, "LOC"), Span(23, 27, "LOC"))


def test_bad_conll_lines_are_reported_with_their_number() -> None:
    result = read_conll("EU B-ORG\nrejects\nx Z-ORG\n")
    assert result.errors == [
        {"line": 2, "error": "expected a token and a tag"},
        {"line": 3, "error": "not an IOB tag: 'Z-ORG'"},
    ]
    assert result.documents == [SpanDocument("EU", (Span(0, 2, "ORG"),))]


WORD = st.from_regex(r"[A-Za-z]{1,7}", fullmatch=True)


@st.composite
def documents(draw: st.DrawFn) -> SpanDocument:
    words = draw(st.lists(WORD, min_size=1, max_size=10))
    tags, i = [], 0
    while i < len(words):
        n = draw(st.integers(0, min(3, len(words) - i)))
        if n:
            label = draw(st.sampled_from(["PER", "LOC"]))
            tags += [f"B-{label}"] + [f"I-{label}"] * (n - 1)
            i += n
        else:
            tags.append("O")
            i += 1
    return document_from_tokens(words, tags)


@given(st.lists(documents(), min_size=1, max_size=5))
def test_conll_round_trips(docs: list[SpanDocument]) -> None:
    assert read_conll(write_conll(docs)).documents == docs


@given(st.lists(documents(), min_size=1, max_size=5))
def test_jsonl_round_trips(docs: list[SpanDocument]) -> None:
    assert read_jsonl(write_jsonl(docs)).documents == docs


def test_jsonl_lines_are_checked_one_by_one() -> None:
    lines = [
        json.dumps({"text": "Ada met Bob", "spans": [{"start": 0, "end": 3, "label": "PER"}]}),
        "",
        "{not json",
        json.dumps({"text": "Ada", "spans": [{"start": 0, "end": 9, "label": "PER"}]}),
        json.dumps(
            {
                "text": "Ada Bob",
                "spans": [
                    {"start": 0, "end": 5, "label": "PER"},
                    {"start": 4, "end": 7, "label": "PER"},
                ],
            }
        ),
        json.dumps({"text": "Ada", "spans": [{"start": "0", "end": 3, "label": "PER"}]}),
        json.dumps({"text": ""}),
        json.dumps({"text": "no spans is fine"}),
    ]
    result = read_jsonl("\n".join(lines))
    assert [d.text for d in result.documents] == ["Ada met Bob", "no spans is fine"]
    assert [e["line"] for e in result.errors] == [3, 4, 5, 6, 7]
    assert "overlaps" in str(result.errors[2]["error"])
