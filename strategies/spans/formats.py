"""CoNLL/IOB files and JSONL ``{"text", "spans"}`` to documents, and back. Pure text in,
text out, so the platform's import and export call these without a second parser.

A document is its text and its spans (character offsets). CoNLL text is rebuilt by
joining the tokens with single spaces; the tag is the last column of each line, in
IOB2, IOB1 or BIOES/BILOU (read as ``tokens.tag_runs`` does); ``-DOCSTART-`` lines and
blank lines separate documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from strategies.spans.tokens import (
    OUTSIDE,
    Span,
    SpanError,
    Token,
    snap_spans,
    spans_to_tags,
    tags_to_spans,
    tokenize,
)

# What a span label's name may not start with (any case): a CoNLL reader takes it for the
# tag's prefix, so "B-PER" written as a label comes back as "PER".
TAG_PREFIXES = ("B-", "I-")


def span_label_problem(name: object) -> str:
    """Why ``name`` cannot be a span label, or ``""`` when it can.

    ``O`` is the outside tag; whitespace would split a ``token tag`` line of a CoNLL
    file; ``B-``/``I-`` would read as a tag's prefix; an empty name labels nothing.
    """
    if not isinstance(name, str) or not name.strip():
        return "a label name cannot be empty"
    if name == OUTSIDE:
        return f"{name!r} is the outside tag of span formats, not a label name"
    if any(ch.isspace() for ch in name):
        return f"{name!r} contains whitespace, which would break a CoNLL line"
    if name[:2].upper() in TAG_PREFIXES:
        return f"{name!r} starts with {name[:2]!r}, which span formats read as a tag prefix"
    return ""


@dataclass(frozen=True)
class SpanDocument:
    """One item: its text and its (possibly empty) labelled spans."""

    text: str
    spans: tuple[Span, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The JSONL shape: ``{"text", "spans": [{"start", "end", "label"}]}``."""
        return {"text": self.text, "spans": [s.as_dict() for s in self.spans]}


@dataclass
class ParseResult:
    """Documents read, and ``{"line", "error"}`` for each line or block refused."""

    documents: list[SpanDocument] = field(default_factory=list)
    errors: list[dict[str, object]] = field(default_factory=list)


def document_from_tokens(words: Sequence[str], tags: Sequence[str]) -> SpanDocument:
    """Join ``words`` with spaces and read the entities of ``tags`` as character spans."""
    tokens, offset = [], 0
    for word in words:
        tokens.append(Token(word, offset, offset + len(word)))
        offset += len(word) + 1
    return SpanDocument(" ".join(words), tuple(tags_to_spans(tokens, tags)))


def read_conll(text: str) -> ParseResult:
    """Read a CoNLL/IOB file: one ``token ... tag`` line per token (spaces or tabs)."""
    result = ParseResult()
    words: list[str] = []
    tags: list[str] = []
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                result.documents.append(document_from_tokens(words, tags))
            words, tags = [], []
        elif len(fields) < 2:
            result.errors.append({"line": number, "error": "expected a token and a tag"})
        elif not _is_tag(fields[-1]):
            result.errors.append({"line": number, "error": f"not an IOB tag: {fields[-1]!r}"})
        else:
            words.append(fields[0])
            tags.append(fields[-1])
    return result


def _is_tag(tag: str) -> bool:
    prefix, _, label = tag.partition("-")
    return tag == "O" or (prefix in {"B", "I", "E", "S", "L", "U"} and bool(label))


def write_conll(documents: Iterable[SpanDocument]) -> str:
    """``token<TAB>tag`` lines (IOB2, our tokenizer), a blank line after each document."""
    blocks = []
    for doc in documents:
        tokens = tokenize(doc.text)
        tags = spans_to_tags(tokens, doc.spans, len(doc.text))
        blocks.append("".join(f"{t.text}\t{tag}\n" for t, tag in zip(tokens, tags, strict=True)))
    return "\n".join(blocks)


def parse_document(data: object) -> SpanDocument:
    """Check one JSON object ``{"text", "spans"?}``: spans inside the text, on tokens,
    not overlapping (``tokens.SpanError`` says which)."""
    if not isinstance(data, dict):
        raise SpanError("each line must be a JSON object")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SpanError('"text" must be a non-empty string')
    raw = data.get("spans") or []
    if not isinstance(raw, list):
        raise SpanError('"spans" must be a list')
    spans = [Span.from_dict(s) if isinstance(s, dict) else _not_object() for s in raw]
    snap_spans(text, spans)  # refuses what the model could not represent
    return SpanDocument(text, tuple(sorted(spans)))


def _not_object() -> Span:
    raise SpanError("each span must be an object with start, end and label")


def read_jsonl(text: str) -> ParseResult:
    """Read JSONL ``{"text", "spans": [{"start", "end", "label"}]}``; blank lines skipped."""
    result = ParseResult()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result.documents.append(parse_document(json.loads(line)))
        except json.JSONDecodeError as exc:
            result.errors.append({"line": number, "error": f"not JSON: {exc.msg}"})
        except SpanError as exc:
            result.errors.append({"line": number, "error": str(exc)})
    return result


def write_jsonl(documents: Iterable[SpanDocument]) -> str:
    """One ``{"text", "spans"}`` object per line."""
    return "".join(json.dumps(doc.as_dict(), ensure_ascii=False) + "\n" for doc in documents)
