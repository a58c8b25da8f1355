"""Parse uploaded CSV / JSONL pools into validated rows.

Whole-file problems (wrong encoding, no usable header, a file that is not CSV)
raise `ImportRejected`, and nothing is written. Row problems are collected with
their line number, and the good rows are kept.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from projects.ingest import labelstudio
from projects.ingest.conll import CONLL_SUFFIXES, conll_records
from projects.ingest.reading import ImportRejected, lines, not_utf8, text_blocks
from projects.ingest.rows import ParsedRow, RowChecker, RowError
from winnow import parsers as json_input

__all__ = ["ImportRejected", "ParsedRow", "ParseResult", "parse_upload", "parse_stream"]


@dataclass
class ParseResult:
    rows: list[ParsedRow]
    errors: list[dict[str, Any]]


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
    checker = RowChecker(
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
