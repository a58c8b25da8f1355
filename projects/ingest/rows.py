"""One import row checked against its project: the parsed row (`ParsedRow`) and the
checks of each field (`RowChecker`). Split from `projects.ingest.parsers`, which reads
the formats (JSONL, CSV, CoNLL, Label Studio) into records and hands each one here."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from projects.ingest.reading import ImportRejected
from projects.span_answers import spans_check
from strategies.spans.tokens import SpanError
from winnow import parsers as json_input

MAX_META_CHARS = 10_000
MAX_VECTOR_DIM = 10_000


@dataclass
class ParsedRow:
    line: int
    text: str = ""
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    vector: list[float] | None = None
    labels: list[str] | None = None  # a multi-label project's seed set
    spans: list[dict[str, Any]] | None = None  # a span project's seed spans
    # A gold item's true answer (a Label Studio task's `meta.winnow.gold`), as the task
    # takes it; such a row is a gold item, not a seed.
    gold_label: str | None = None
    gold_labels: list[str] | None = None
    gold_spans: list[dict[str, Any]] | None = None

    @property
    def seeded(self) -> bool:
        """The row brings a final label (set, or spans): it becomes a seed label."""
        return bool(self.label) or self.labels is not None or self.spans is not None

    @property
    def gold(self) -> bool:
        return (
            self.gold_label is not None
            or self.gold_labels is not None
            or self.gold_spans is not None
        )


# A record's keys that are not its meta: every other key is.
_OWN_KEYS = frozenset({"text", "label", "labels", "choices", "spans", "meta", "features", "gold"})


class RowError(ValueError):
    pass


@dataclass
class RowChecker:
    """One record checked against the project: its text, vector, meta, seed answer
    (label, set or spans) and gold answer, as a `ParsedRow`; a bad field raises `RowError`."""

    kind: str
    labels: set[str]
    max_text_chars: int
    vector_dim: int | None = None
    multilabel: bool = False
    order: tuple[str, ...] = ()  # the project's labels in key order (sets keep it)
    spans: bool = False  # a span project: the answer is spans of the text
    allow_empty_set: bool = True  # the project's setting: may a seed set be empty?

    def check(self, line: int, record: Any) -> ParsedRow:
        if not isinstance(record, dict):
            raise RowError("each line must be a JSON object")
        row = ParsedRow(line=line)
        if self.spans:
            self._no_label(record)
        else:
            self._answer(row, record)
        row.meta = self._meta(record)
        if self.kind == "vector":
            row.vector = self._vector(record.get("features"))
            row.text = self._text(record.get("text", ""), required=False)
        else:
            row.text = self._text(record.get("text"), required=True)
            if record.get("features") is not None:
                # Own embeddings of a text project: the whole file is refused for one bad
                # vector, since a project's rows must all come from one representation.
                try:
                    row.vector = self._vector(record.get("features"))
                except RowError as exc:
                    raise ImportRejected(f"Line {line}: {exc}.") from None
        if self.spans:
            row.spans = self._spans(row.text, record.get("spans"))
        if record.get("gold") is not None:
            self._gold(row, record["gold"])
        return row

    def _gold(self, row: ParsedRow, value: Any) -> None:
        """A gold item's true answer, checked as a seed answer is; it replaces the seed
        (a gold item is a quality check, not training data)."""
        if self.spans:
            row.gold_spans = self._spans(row.text, value)
        elif self.multilabel:
            row.gold_labels = self._set(value)
        else:
            row.gold_label = self._label(value)
            if row.gold_label is None:
                raise RowError("a gold answer must name a label")
        row.label, row.labels, row.spans = None, None, None

    def _no_label(self, record: dict[str, Any]) -> None:
        for key in ("label", "labels", "choices"):
            if record.get(key) not in (None, ""):
                raise RowError(f'a span project takes "spans": [...], not "{key}"')

    def _spans(self, text: str, value: Any) -> list[dict[str, Any]] | None:
        """A span project's seed spans (None: the row brings none); a CSV cell holds them
        as JSON (as the CSV export writes them), an empty cell none."""
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = json_input.loads(value)
            except (json.JSONDecodeError, json_input.UnsafeJSON):
                raise RowError('spans must be a list of {"start", "end", "label"} (JSON)') from None
        if value is None:
            return None
        try:
            return spans_check(text, value, self.order)
        except SpanError as exc:
            raise RowError(str(exc)) from None

    def _answer(self, row: ParsedRow, record: dict[str, Any]) -> None:
        """The row's seed answer: `label`, or `labels` (a set) on multi-label projects;
        `choices` is a Label Studio task's answer, read as whichever the project takes."""
        choices = record.get("choices")
        if record.get("spans") is not None:
            raise RowError('only span projects take "spans"')
        if self.multilabel:
            given = choices if choices is not None else record.get("labels")
            if record.get("label") not in (None, ""):
                raise RowError('a multi-label project takes "labels": [...], not "label"')
            row.labels = None if given is None else self._set(given)
        elif choices is not None:
            if not isinstance(choices, list) or len(choices) != 1:
                raise RowError("a single-label project takes exactly one choice per task")
            row.label = self._label(choices[0])
        else:
            if record.get("labels") is not None:
                raise RowError('a single-label project takes "label", not "labels"')
            row.label = self._label(record.get("label"))

    def _set(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise RowError("labels must be a list of label names")
        unknown = sorted(set(value) - self.labels)
        if unknown:
            known = sorted(self.labels)
            raise RowError(f"unknown labels {unknown}; the project's labels are {known}")
        if not value and not self.allow_empty_set:
            raise RowError("an empty set of labels: this project does not allow empty sets")
        return [name for name in self.order if name in set(value)]

    def _label(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str | int):
            raise RowError("label must be a string")
        label = str(value).strip()
        if label not in self.labels:
            raise RowError(
                f"unknown label {label!r}; the project's labels are {sorted(self.labels)}"
            )
        return label

    def _text(self, value: Any, *, required: bool) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise RowError("missing text")
            return ""
        if not isinstance(value, str):
            raise RowError("text must be a string")
        if len(value) > self.max_text_chars:
            raise RowError(f"text longer than {self.max_text_chars} characters")
        return value

    def _vector(self, value: Any) -> list[float]:
        if not isinstance(value, list) or not value:
            raise RowError("features must be a non-empty list of numbers")
        if len(value) > MAX_VECTOR_DIM:
            raise RowError(f"features longer than {MAX_VECTOR_DIM}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise RowError("features must be numbers")
        try:
            vector = [float(v) for v in value]
        except OverflowError:  # an integer too large for a float
            raise RowError("features must be finite numbers") from None
        if not all(math.isfinite(v) for v in vector):
            raise RowError("features must be finite numbers")
        if self.vector_dim is None:
            self.vector_dim = len(vector)
        elif len(vector) != self.vector_dim:
            raise RowError(f"expected {self.vector_dim} features, found {len(vector)}")
        return vector

    def _meta(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        if not isinstance(meta, dict):
            raise RowError("meta must be an object")
        if not record.keys() <= _OWN_KEYS:  # most rows have no other keys
            meta = {**{k: v for k, v in record.items() if k not in _OWN_KEYS}, **meta}
        if meta and len(json.dumps(meta)) > MAX_META_CHARS:
            raise RowError(f"meta larger than {MAX_META_CHARS} characters")
        return meta
