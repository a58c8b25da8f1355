"""What a span answer is: a list of `{"start", "end", "label"}` (character offsets into
the item's text, end exclusive) with known labels, inside the text, on tokens and not
overlapping; stored snapped outward to token edges and sorted by start. `[]` (no entity)
is an answer too. Submits, reviews, relabels and imports all check spans here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

from projects.models import Project
from strategies.spans.formats import span_label_problem
from strategies.spans.tokens import Span, SpanError, snap_spans, tokenize

# More spans than this in one answer is not an annotation (a text has fewer tokens).
MAX_SPANS = 10_000


def spans_check(text: str, raw: object, labels: Iterable[str]) -> list[dict[str, Any]]:
    """`raw` as stored spans for `text`; SpanError says what is wrong (no Django here, so
    the import's parser uses it too). An unknown name the span formats cannot carry
    is named as such: it could not be added to the project either."""
    if not isinstance(raw, list | tuple):
        raise SpanError('spans must be a list of {"start", "end", "label"}')
    if len(raw) > MAX_SPANS:
        raise SpanError(f"more than {MAX_SPANS} spans")
    known = list(labels)
    spans = [Span.from_dict(s) if isinstance(s, dict) else _not_object() for s in raw]
    unknown = sorted({s.label for s in spans} - set(known))
    clashing = [problem for problem in map(span_label_problem, unknown) if problem]
    if clashing:
        raise SpanError("; ".join(clashing))
    if unknown:
        raise SpanError(f"unknown labels {unknown}; the project's labels are {known}")
    return [s.as_dict() for s in snap_spans(text, spans)]


def _not_object() -> Span:
    raise SpanError('each span must be an object {"start", "end", "label"}')


def spans_clean(
    project: Project, text: str, raw: object, *, field: str = "spans"
) -> list[dict[str, Any]]:
    """`raw` as the stored spans of an item of `project` whose text is `text`;
    ValidationError (under `field`) says what is wrong."""
    try:
        return spans_check(text, raw, project.labels)
    except SpanError as exc:
        raise ValidationError({field: str(exc)}) from None


def is_spans(project: Project) -> bool:
    return project.task == Project.Task.SPANS


def tokens_payload(text: str) -> list[dict[str, Any]]:
    """The item's tokens as the annotate API shows them: `{"start", "end", "text"}`."""
    return [{"start": t.start, "end": t.end, "text": t.text} for t in tokenize(text)]
