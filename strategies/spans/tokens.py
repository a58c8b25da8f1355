"""Tokens that keep their character offsets, and spans <-> BIO tags per token.

A span is a half-open character range ``[start, end)`` of the item's text with a label,
as the API sends it. The model works on tokens, so a span is snapped outward to the
tokens it touches; two spans that would share a token are refused rather than silently
merged, because either choice would change what the annotator said.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Words (letters, digits, underscore; inner apostrophes kept: "don't", "O'Neil") or one
# punctuation mark. Unicode-aware, so scripts without spaces still split at punctuation.
TOKEN_PATTERN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
OUTSIDE = "O"


class SpanError(ValueError):
    """A span that cannot be placed: out of range, empty, on no token, or overlapping."""


@dataclass(frozen=True)
class Token:
    """One token: its text and its half-open character range in the item's text."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, order=True)
class Span:
    """A labelled half-open character range ``[start, end)``."""

    start: int
    end: int
    label: str

    def as_dict(self) -> dict[str, Any]:
        """The API's shape: ``{"start", "end", "label"}``."""
        return {"start": self.start, "end": self.end, "label": self.label}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Span:
        """Read ``{"start", "end", "label"}``; integers and a non-empty label required."""
        start, end, label = data.get("start"), data.get("end"), data.get("label")
        if type(start) is not int or type(end) is not int:
            raise SpanError("span start and end must be integers")
        if not isinstance(label, str) or not label.strip():
            raise SpanError("span label must be a non-empty string")
        return cls(start, end, label)


def tokenize(text: str, pattern: re.Pattern[str] = TOKEN_PATTERN) -> list[Token]:
    """Split ``text`` into tokens with offsets: ``text[t.start:t.end] == t.text``."""
    return [Token(m.group(), m.start(), m.end()) for m in pattern.finditer(text)]


def whitespace_tokenize(text: str) -> list[Token]:
    """Tokens are the runs of non-space characters (for pre-tokenised CoNLL text)."""
    return tokenize(text, re.compile(r"\S+"))


def token_range(tokens: Sequence[Token], span: Span, text_length: int) -> tuple[int, int]:
    """The tokens ``[first, last)`` a span touches (snapped outward to token edges)."""
    if not 0 <= span.start < span.end <= text_length:
        raise SpanError(f"span [{span.start}, {span.end}) is not inside the text")
    # tokens are in text order and disjoint: the touched ones are a contiguous run
    first = bisect.bisect_right([t.end for t in tokens], span.start)
    last = bisect.bisect_left([t.start for t in tokens], span.end)
    if first >= last:
        raise SpanError(f"span [{span.start}, {span.end}) covers no token")
    return first, last


def spans_to_tags(tokens: Sequence[Token], spans: Iterable[Span], text_length: int) -> list[str]:
    """BIO (IOB2) tags per token: ``B-label`` on a span's first token, ``I-label`` after.

    Raises ``SpanError`` when two spans share a token after snapping.
    """
    tags = [OUTSIDE] * len(tokens)
    for span in sorted(spans):
        first, last = token_range(tokens, span, text_length)
        if any(tag != OUTSIDE for tag in tags[first:last]):
            raise SpanError(f"span [{span.start}, {span.end}) overlaps another span")
        tags[first] = f"B-{span.label}"
        tags[first + 1 : last] = [f"I-{span.label}"] * (last - first - 1)
    return tags


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``."""
    if tag == OUTSIDE or "-" not in tag:
        return OUTSIDE, ""
    prefix, label = tag.split("-", 1)
    return prefix, label


def tag_runs(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities as token ranges ``(first, last, label)``, last exclusive.

    Reads IOB2, IOB1 and BIOES/BILOU alike: an entity starts at ``B``/``S``/``U``, at
    an ``I``/``E``/``L`` whose label differs from the open entity's, or after ``O``
    (the conlleval reading, which is also seqeval's default); it ends after ``E``/
    ``S``/``L``/``U``, at ``O`` or where another starts.
    """
    runs: list[tuple[int, int, str]] = []
    open_at, open_label = -1, ""
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, label = split_tag(tag)
        starts = prefix in ("B", "S", "U") or (prefix != OUTSIDE and label != open_label)
        if open_at >= 0 and (prefix == OUTSIDE or starts):
            runs.append((open_at, i, open_label))
            open_at, open_label = -1, ""
        if prefix != OUTSIDE and open_at < 0:
            open_at, open_label = i, label
        if prefix in ("E", "S", "L", "U"):
            runs.append((open_at, i + 1, open_label))
            open_at, open_label = -1, ""
    return runs


def tags_to_spans(tokens: Sequence[Token], tags: Sequence[str]) -> list[Span]:
    """Character spans of the entities in ``tags`` (see ``tag_runs``), in text order."""
    if len(tokens) != len(tags):
        raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
    return [Span(tokens[a].start, tokens[b - 1].end, label) for a, b, label in tag_runs(tags)]


def snap_spans(text: str, spans: Iterable[Span]) -> list[Span]:
    """The spans as the model sees them: snapped to token edges (overlaps refused)."""
    tokens = tokenize(text)
    return tags_to_spans(tokens, spans_to_tags(tokens, spans, len(text)))
