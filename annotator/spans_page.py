"""What the annotate and review pages show on span projects: the item's text as tokens
with their character offsets, the model's suggested spans, and for review each
annotator's spans and the consensus the reviewer's editor starts from.

The tokens are `strategies.spans.tokens.tokenize`'s, the ones a submitted span is
snapped to, so what the page lets a person select is what the model learns from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from annotator.assignment.gold import is_gold
from annotator.assignment.history import HistoryEntry
from projects.label_keys import LabelKey
from projects.models import Item, Project
from projects.span_answers import is_spans
from projects.training.services import latest_model, load_model
from strategies.spans.agreement import span_consensus
from strategies.spans.crf import SpanModel
from strategies.spans.tokens import Span, SpanError, tags_to_spans, tokenize
from winnow import parsers

# Label colours are classes `ent c0`...`c7` in annotate.css (no inline style under the
# CSP); the label's name is always shown beside the colour.
COLOURS = 8


@dataclass(frozen=True)
class TokenCell:
    """A token as the page draws it: its offsets, its text and the spaces after it."""

    index: int
    start: int
    end: int
    text: str
    gap: str
    label: str = ""
    colour: int = 0
    begins: bool = False
    ends: bool = False


def token_cells(text: str) -> list[TokenCell]:
    """The text's tokens; every non-space character is in one, so a gap is spaces."""
    tokens = tokenize(text)
    nexts = [t.start for t in tokens[1:]] + [len(text)]
    return [
        TokenCell(i, t.start, t.end, t.text, text[t.end : nxt])
        for i, (t, nxt) in enumerate(zip(tokens, nexts, strict=True))
    ]


def marked_cells(text: str, spans: list[dict[str, Any]], labels: list[str]) -> list[TokenCell]:
    """The tokens with the spans drawn on them (a read-only row of the review page)."""
    cells = token_cells(text)
    for span in spans:
        inside = [c for c in cells if c.end > span["start"] and c.start < span["end"]]
        for c in inside:
            cells[c.index] = TokenCell(
                c.index, c.start, c.end, c.text, c.gap,
                label=span["label"], colour=_colour(labels, span["label"]),
                begins=c is inside[0], ends=c is inside[-1],
            )  # fmt: skip
    return cells


def _colour(labels: list[str], label: str) -> int:
    return labels.index(label) % COLOURS if label in labels else 0


def suggested_spans(project: Project, item: Item) -> list[dict[str, Any]]:
    """The latest model's predicted spans for `item`, if the project shows suggestions.

    None for holdout and gold items: the model must not anchor the labels it is evaluated
    on, nor the answers that measure an annotator.
    The prediction is computed here (a CRF over one sentence is quick); a version
    whose file is not a span model (none trained yet) suggests nothing.
    """
    if not project.show_suggestion or item.is_holdout or is_gold(item) or not item.text:
        return []
    version = latest_model(project)
    if version is None:
        return []
    model = load_model(project.pk, version.version)
    tokens = tokenize(item.text)
    if not isinstance(model, SpanModel) or not tokens:
        return []
    tags = model.predict([[t.text for t in tokens]])[0]
    return [s.as_dict() for s in tags_to_spans(tokens, tags) if s.label in project.labels]


def span_labels(labels: list[LabelKey]) -> list[dict[str, Any]]:
    """The labels' buttons of the editor: each with its key and colour class."""
    return [
        {"label": lk.label, "key": lk.key, "description": lk.description, "colour": i % COLOURS}
        for i, lk in enumerate(labels)
    ]


@dataclass(frozen=True)
class Drawn:
    """The spans an annotator drew on an item whose submit was refused."""

    item: str
    spans: list[dict[str, Any]]


def drawn_spans(item: str | None, raw: str | None) -> Drawn | None:
    """A refused submit's spans, those that can be drawn again (an object with integer
    offsets and a string label): the editor shows them with the error, so a refusal
    loses none of the annotator's work. None when the field is not a JSON list."""
    try:
        posted = parsers.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(posted, list):
        return None
    return Drawn(str(item), [span for span in map(_drawable, posted) if span])


def _drawable(span: object) -> dict[str, Any]:
    if not isinstance(span, dict):
        return {}
    start, end, label = span.get("start"), span.get("end"), span.get("label")
    if type(start) is not int or type(end) is not int or not isinstance(label, str):
        return {}
    return {"start": start, "end": end, "label": label} if 0 <= start < end else {}


def annotate_context(
    project: Project,
    labels: list[LabelKey],
    item: Item | None,
    previous: Any,
    drawn: Drawn | None = None,
) -> dict[str, Any]:
    """The span editor's data on the annotate page (empty on other projects). The editor
    starts from the annotation being changed, or from the spans of a refused submit of
    this item (then without suggestions: the annotator has been through them)."""
    if not is_spans(project) or item is None:
        return {}
    initial: list[dict[str, Any]]
    suggested: list[dict[str, Any]]
    if previous is not None:
        initial, suggested = previous.spans or [], []
    elif drawn is not None and drawn.item == str(item.pk):
        initial, suggested = drawn.spans, []
    else:
        initial, suggested = [], suggested_spans(project, item)
    return {
        "span_labels": span_labels(labels),
        "tokens": token_cells(item.text or ""),
        "initial_spans": initial,
        "suggested_spans": suggested,
    }


def review_context(
    project: Project, labels: list[LabelKey], entry: dict[str, Any] | None
) -> dict[str, Any]:
    """Each annotator's spans as a row of tokens, and the editor's starting spans."""
    if not is_spans(project) or entry is None:
        return {}
    text = entry.get("text") or ""
    rows = [(a["annotator"], a["spans"]) for a in entry["annotations"]]
    names = list(project.labels)
    return {
        "span_labels": span_labels(labels),
        "tokens": token_cells(text),
        "span_rows": [
            {
                "annotator": name,
                "spans": spans or [],
                "cells": marked_cells(text, spans or [], names),
            }
            for name, spans in rows
        ],
        "initial_spans": consensus_start(text, [spans or [] for _, spans in rows]),
        "suggested_spans": [],
    }


def history_rows(
    project: Project, entries: list[HistoryEntry]
) -> list[tuple[HistoryEntry, list[TokenCell]]]:
    """The history page's entries, each with its spans drawn on its item's tokens."""
    if not is_spans(project):
        return []
    names = list(project.labels)
    return [
        (e, marked_cells(e.annotation.item.text, e.annotation.spans or [], names)) for e in entries
    ]


def consensus_start(
    text: str, spans_by_annotator: list[list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The token-vote consensus; where the annotators tie (which is why an item waits for
    review), the spans every annotator gave alike."""
    try:
        parsed = [[Span.from_dict(s) for s in spans] for spans in spans_by_annotator]
        voted = span_consensus(text, parsed) if parsed else []
    except SpanError:
        return []
    if voted is not None:
        return [s.as_dict() for s in voted]
    common = set(parsed[0]).intersection(*parsed[1:])
    return [s.as_dict() for s in sorted(common)]


def posted_spans(raw: str | None) -> Any:
    """The editor's spans (a JSON list in the form's `spans` field); None if absent.

    Only the JSON is read here: what a spans answer may be is checked by the submit.
    """
    if raw is None:
        return None
    try:
        return parsers.loads(raw)
    except ValueError as exc:
        raise ValidationError({"spans": "spans must be a JSON list"}) from exc
