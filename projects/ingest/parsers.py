"""Parse uploaded CSV / JSONL pools into validated rows.

Whole-file problems (wrong encoding, no usable header, a file that is not CSV)
raise `ImportRejected`, and nothing is written. Row problems are collected with
their line number, and the good rows are kept.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from projects.ingest import labelstudio
from projects.ingest.conll import CONLL_SUFFIXES, conll_records
from projects.ingest.reading import ImportRejected, lines, not_utf8, text_blocks
from projects.span_answers import spans_check
from strategies.spans.tokens import SpanError
from winnow import parsers as json_input

__all__ = ["ImportRejected", "ParsedRow", "ParseResult", "parse_upload", "parse_stream"]

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


@dataclass
class ParseResult:
    rows: list[ParsedRow]
    errors: list[dict[str, Any]]


class RowError(ValueError):
    pass


# Row errors an import keeps (its answer lists the first thousand); the rest are counted.
KEPT_ERRORS = 1000


@dataclass
class RowErrors:
    """The rows a parse refused: the first `keep` with their line, and how many in all."""

    keep: int = field(default_factory=lambda: KEPT_ERRORS)
    first: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, error: str) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append({"line": line, "error": error})


def decode_upload(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(exc.start) from None


def parse_upload(
    data: bytes,
    filename: str,
    *,
    kind: str,
    labels: list[str],
    max_text_chars: int,
    multilabel: bool = False,
    spans: bool = False,
    allow_empty_set: bool = True,
) -> ParseResult:
    """Every row of an upload held in memory (a preview's head; tests).

    `spans`: the project's answers are spans (JSONL `"spans"`, CoNLL/IOB files)."""
    errors = RowErrors(keep=len(data) + 1)
    rows = list(
        parse_stream(
            io.BytesIO(data),
            filename,
            errors=errors,
            kind=kind,
            labels=labels,
            max_text_chars=max_text_chars,
            multilabel=multilabel,
            spans=spans,
            allow_empty_set=allow_empty_set,
        )
    )
    return ParseResult(rows=rows, errors=errors.first)


def parse_stream(
    fh: IO[bytes],
    filename: str,
    *,
    errors: RowErrors,
    kind: str,
    labels: list[str],
    max_text_chars: int,
    multilabel: bool = False,
    spans: bool = False,
    allow_empty_set: bool = True,
    limit: int | None = None,
) -> Iterator[ParsedRow]:
    """The good rows of an upload, one at a time, as the file is read; refused rows go to
    `errors`. CSV and JSONL lines are read in blocks (`reading`); a `.json` file, which
    may be a Label Studio export (one JSON document), is read whole."""
    checker = _RowChecker(
        kind=kind,
        labels=set(labels),
        max_text_chars=max_text_chars,
        multilabel=multilabel,
        order=tuple(labels),
        spans=spans,
        allow_empty_set=allow_empty_set,
    )
    lower = filename.lower()
    conll = lower.endswith(CONLL_SUFFIXES) or (spans and lower.endswith(".txt"))
    if not conll and not lower.endswith((".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".txt")):
        raise ImportRejected(
            "Unsupported file type: upload a .csv or .jsonl file"
            + (" (or a CoNLL/IOB file: .conll, .iob, .bio, .txt)." if spans else ".")
        )
    blocks = text_blocks(fh, limit=limit)
    records: Iterator[tuple[int, Any]]
    if conll:  # documents end at blank lines: the file is read whole
        records = _conll_records("".join(blocks), spans=spans)
    elif lower.endswith(".json"):
        text = "".join(blocks)
        if labelstudio.looks_like_export(text):
            records = _labelstudio_records(text, spans=spans)
        else:
            records = _jsonl_records(text.split("\n"))
    elif lower.endswith((".jsonl", ".ndjson")):
        records = _jsonl_records(lines(blocks, universal=False))
    else:
        delimiter = "\t" if lower.endswith(".tsv") else ","
        records = _csv_records(lines(blocks, universal=True), delimiter=delimiter, kind=kind)
    for line, record in records:
        try:
            if isinstance(record, RowError):
                raise record
            yield checker.check(line, record)
        except RowError as exc:
            errors.add(line, str(exc))


def _conll_records(text: str, *, spans: bool) -> Iterator[tuple[int, Any]]:
    """A CoNLL/IOB file's documents as rows (span projects only)."""
    if not spans:
        raise ImportRejected("CoNLL/IOB files are for span projects: upload a .csv or .jsonl file.")
    for number, record in conll_records(text):
        yield number, RowError(str(record)) if isinstance(record, ValueError) else record


def _labelstudio_records(text: str, *, spans: bool = False) -> Iterator[tuple[int, Any]]:
    """A Label Studio JSON export's tasks as rows; errors are numbered by task."""
    try:
        for number, record in labelstudio.records(text, spans=spans):
            yield number, RowError(str(record)) if isinstance(record, ValueError) else record
    except labelstudio.NotAnExport as exc:
        raise ImportRejected(f"{exc}.") from None


def _jsonl_records(raw_lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    # Lines end at "\n" only: JSON strings may hold U+2028, U+2029 or U+0085, which
    # str.splitlines() would also split on.
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json_input.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, RowError(f"invalid JSON: {exc.msg} at column {exc.colno}")
        except json_input.UnsafeJSON as exc:
            yield number, RowError(f"invalid JSON: {exc}")


def _csv_records(
    raw_lines: Iterable[str], *, delimiter: str, kind: str
) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(raw_lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportRejected(f"Malformed CSV header: {exc}.") from None
    if not header:
        raise ImportRejected("The CSV file is empty.")
    header = [h.strip() for h in header]
    if kind == "text" and "text" not in header:
        raise ImportRejected(f"The CSV header needs a 'text' column; it has {header[:10]}.")
    if kind != "text":
        raise ImportRejected(f"{kind} projects import JSONL (or ZIP for images), not CSV.")
    if len(set(header)) != len(header):
        raise ImportRejected("The CSV header repeats a column name.")
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRejected(f"Malformed CSV at line {reader.line_num}: {exc}.") from None
        if not values:
            continue
        if len(values) != len(header):
            yield reader.line_num, RowError(f"expected {len(header)} fields, found {len(values)}")
            continue
        record: dict[str, Any] = dict(zip(header, values, strict=True))
        if "labels" in record:
            record["labels"] = csv_label_set(record["labels"])
        yield reader.line_num, record


# A CSV cell holds a multi-label seed set as names separated by this (README: Importing).
CSV_SET_SEPARATOR = "|"


def csv_label_set(cell: str) -> list[str] | None:
    """A `labels` cell as a set: `a|b` -> ["a", "b"]; an empty cell carries no seed set."""
    if not cell.strip():
        return None
    return [name.strip() for name in cell.split(CSV_SET_SEPARATOR)]


@dataclass
class _RowChecker:
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
        own = {"text", "label", "labels", "choices", "spans", "meta", "features", "gold"}
        extra = {k: v for k, v in record.items() if k not in own}
        meta = {**extra, **meta}
        if meta and len(json.dumps(meta)) > MAX_META_CHARS:
            raise RowError(f"meta larger than {MAX_META_CHARS} characters")
        return meta


@dataclass
class Preview:
    """The head of an upload as it would import: nothing is written."""

    columns: list[str]  # as found: the CSV header, or the first JSON objects' keys
    rows: list[ParsedRow]
    errors: list[dict[str, Any]]
    labelled: int  # rows of the head that carry a label (they would become seed labels)
    complete: bool  # the head is the whole file


def preview_upload(
    head: bytes,
    filename: str,
    *,
    complete: bool,
    kind: str,
    labels: list[str],
    max_text_chars: int,
    rows: int = 5,
    multilabel: bool = False,
    spans: bool = False,
    allow_empty_set: bool = True,
) -> Preview:
    """Parse the first lines of an upload with the import's own rules (`parse_upload`).

    A head cut off mid-file drops its last, partial line first, so that line is neither
    shown nor reported as an error.
    """
    if not complete:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut >= 0 else b""
    parsed = parse_upload(
        head,
        filename,
        kind=kind,
        labels=labels,
        max_text_chars=max_text_chars,
        multilabel=multilabel,
        spans=spans,
        allow_empty_set=allow_empty_set,
    )
    return Preview(
        columns=_columns(decode_upload(head), filename),
        rows=parsed.rows[:rows],
        errors=parsed.errors[:rows],
        labelled=sum(1 for row in parsed.rows if row.seeded),
        complete=complete,
    )


def _columns(text: str, filename: str) -> list[str]:
    if filename.lower().endswith(CONLL_SUFFIXES):
        return ["text", "spans"]
    if filename.lower().endswith((".csv", ".tsv", ".txt")):
        delimiter = "\t" if filename.lower().endswith(".tsv") else ","
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        return [h.strip() for h in header]
    seen: dict[str, None] = {}
    for _, record in _jsonl_records(text.split("\n")):
        if isinstance(record, dict):
            seen.update(dict.fromkeys(record))
        if len(seen) > 100:
            break
    return list(seen)
