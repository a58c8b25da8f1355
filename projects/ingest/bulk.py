"""Bulk item inserts that the ORM would do row by row.

One function builds the rows (`_values`: every column's model default, then each row's
own cells) for every database and every caller: an import's parsed rows, a stream's
arrivals. Only the transport differs: an import goes by COPY on PostgreSQL and an
executemany INSERT elsewhere (COPY's text encoding, its NULL marker and booleans, is
the one thing the rows are told about the database); arrivals need their ids back, so
they go by one multi-row `INSERT ... RETURNING id`, the same statement everywhere.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from typing import Any

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from projects.ingest.parsers import ParsedRow
from projects.models import Item


def _item_columns() -> list[Field[Any, Any]]:
    return [f for f in Item._meta.concrete_fields if not f.primary_key]


def _defaults(now: str) -> dict[str, object]:
    """Every column's default, so raw inserts keep up with new model fields."""
    values: dict[str, object] = {}
    for field in _item_columns():
        if field.name == "created_at":
            values[field.attname] = now
        elif field.has_default():
            values[field.attname] = field.get_default()
        else:
            values[field.attname] = None if field.null else ""
    return values


def _row_values(project_id: int, row: ParsedRow, image: str) -> dict[str, object]:
    """An imported row's own columns (the rest take the model's defaults)."""
    return {
        "project_id": project_id,
        "text": row.text,
        "image": image,
        "meta": row.meta,
        "vector": row.vector,
        "state": _state(row),
        "label": row.label,
        "labels": row.labels,
        "spans": row.spans,
        "label_source": Item.LabelSource.SEED if row.seeded else "",
        "gold_label": row.gold_label,
        "gold_labels": row.gold_labels,
        "gold_spans": row.gold_spans,
    }


def _state(row: ParsedRow) -> str:
    if row.gold:  # out of the pool, as a pool item the lead marks gold (quality.gold)
        return Item.State.GOLD
    return Item.State.LABELED if row.seeded else Item.State.POOL


def _cell(value: object, *, postgres: bool) -> object:
    if value.__class__ is str:  # most cells: nothing to convert, no further checks
        return value
    if isinstance(value, dict | list):
        # Most rows' meta is empty: its JSON is known (dumping it was a sixth of an import).
        return json.dumps(value) if value else ("{}" if isinstance(value, dict) else "[]")
    if isinstance(value, bool) and postgres:
        return "t" if value else "f"
    return value


# Rows per COPY (or executemany) of an import: its cells and their CSV text exist for one
# chunk at a time, not for the whole file (gigabytes at ten million rows).
INSERT_CHUNK = 50_000


def items_insert(project_id: int, rows: Iterable[ParsedRow], images: Sequence[str] = ()) -> int:
    """Insert parsed rows in one statement stream per chunk; the caller holds the transaction.

    `rows` may be a stream (an upload parsed as it is read): one chunk of it is held at a
    time. COPY and the INSERT carry the same rows: a transport difference, not a second
    rule. On PostgreSQL a chunk's COPY runs while the next chunk is parsed
    (`_Pipelined`): the server's part (indexes, full-text words) and ours overlap on
    two cores. Returns how many rows were inserted.
    """
    defaults = _defaults(timezone.now().isoformat())
    columns = list(defaults)
    postgres = connection.vendor == "postgresql"
    rows = iter(rows)
    start = 0
    with _Pipelined(columns) if postgres else nullcontext() as copy:
        while chunk := list(itertools.islice(rows, INSERT_CHUNK)):
            own = [
                _row_values(project_id, row, images[start + i] if images else "")
                for i, row in enumerate(chunk)
            ]
            values = _values(defaults, own, postgres=postgres)
            if copy is not None:
                copy.send(values)
            else:
                placeholders = ", ".join(["%s"] * len(columns))
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO projects_item ({', '.join(columns)}) VALUES ({placeholders})",
                        values,
                    )
            start += len(chunk)
    return start


def _values(
    defaults: dict[str, object], rows: Sequence[dict[str, object]], *, postgres: bool
) -> list[list[Any]]:
    """Every row's cells: the defaults are converted once, then a row sets only its own
    (converting every cell of every row one by one would dominate a large import)."""
    null = "\\N" if postgres else None
    base = [null if v is None else _cell(v, postgres=postgres) for v in defaults.values()]
    at = {name: i for i, name in enumerate(defaults)}
    values = []
    for own in rows:
        cells = base.copy()
        for name, value in own.items():
            cells[at[name]] = null if value is None else _cell(value, postgres=postgres)
        values.append(cells)
    return values


# Rows per INSERT ... RETURNING: SQLite allows 32,766 parameters a statement.
RETURNING_CHUNK = 500


def item_rows_insert(rows: Sequence[dict[str, object]]) -> list[int]:
    """Insert items given by their own columns (the rest take the model's defaults) and
    return their ids in the order of `rows`; the caller holds the transaction.

    One multi-row `INSERT ... RETURNING id` per chunk, on SQLite (3.35+) and PostgreSQL
    alike. Ids come from one sequence and rise within a statement, so sorted they line
    up with the rows (RETURNING itself promises no order).
    """
    defaults = _defaults(timezone.now().isoformat())
    columns = ", ".join(defaults)
    row = "(" + ", ".join(["%s"] * len(defaults)) + ")"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), RETURNING_CHUNK):
            chunk = _values(defaults, rows[start : start + RETURNING_CHUNK], postgres=False)
            sql = (
                f"INSERT INTO {Item._meta.db_table} ({columns}) "
                f"VALUES {', '.join([row] * len(chunk))} RETURNING id"
            )
            cursor.execute(sql, [cell for cells in chunk for cell in cells])
            ids.extend(sorted(int(r[0]) for r in cursor.fetchall()))
    return ids


class _Pipelined:
    """COPY chunks on the open connection from one helper thread, one chunk in flight.

    `send` waits for the previous chunk's COPY, then starts this one's and returns, so the
    caller parses the next chunk while the server stores this one. psycopg2 releases the
    GIL while it waits on the server, and its connections may be shared by threads; the
    caller uses the connection for nothing else until the block ends, which waits for
    the last COPY (on an error too, so a rollback never races a COPY) and raises its error.
    """

    def __init__(self, columns: list[str]) -> None:
        not_null = [f.attname for f in _item_columns() if not f.null]
        self.sql = (
            f"COPY projects_item ({', '.join(columns)}) FROM STDIN "
            f"WITH (FORMAT csv, NULL '\\N', FORCE_NOT_NULL ({', '.join(not_null)}))"
        )
        connection.ensure_connection()
        self.raw = connection.connection
        self.errors = connection.wrap_database_errors  # Django's exceptions, as a cursor's
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-copy")
        self.pending: Future[None] | None = None

    def __enter__(self) -> _Pipelined:
        return self

    def send(self, values: list[list[object]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(values)  # None is already the NULL marker
        buffer.seek(0)
        self._wait()
        self.pending = self.pool.submit(self._copy, buffer)

    def _copy(self, buffer: io.StringIO) -> None:
        with self.errors, self.raw.cursor() as cursor:
            cursor.copy_expert(self.sql, buffer)

    def _wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if error is None:
                self._wait()
            elif self.pending is not None:
                wait([self.pending])  # its own error, if any, is the lesser one
        finally:
            self.pool.shutdown(wait=True)
