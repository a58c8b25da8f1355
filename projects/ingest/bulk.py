"""Bulk item inserts that the ORM would do row by row.

One layout builds the rows (`_Layout`: each row's own cells, then every other column at
its model default) for every database and every caller: an import's parsed rows, a
stream's arrivals. Only the transport differs: an import goes by COPY on PostgreSQL and an
executemany INSERT elsewhere (COPY's text encoding, its NULL marker and booleans, is
the one thing the rows are told about the database); arrivals need their ids back, so
they go by one multi-row `INSERT ... RETURNING id`, the same statement everywhere.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from typing import Any, cast

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from projects.ingest.parsers import ParsedRow
from projects.models import Item, Project
from winnow.errors import Conflict


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


# The columns an imported row sets itself, in the order `_row_cells` gives them.
IMPORTED = (
    "project_id",
    "text",
    "image",
    "meta",
    "vector",
    "state",
    "label",
    "labels",
    "spans",
    "label_source",
    "gold_label",
    "gold_labels",
    "gold_spans",
)


def _row_cells(project_id: int, row: ParsedRow, image: str) -> list[Any]:
    """An imported row's own cells (`IMPORTED`; the rest take the model's defaults),
    converted as `_cell` would: a million rows' calls to it were a fifth of an import."""
    seeded = row.seeded
    return [
        project_id,
        row.text,
        image,
        json.dumps(row.meta) if row.meta else "{}",
        None if row.vector is None else json.dumps(row.vector),
        # A gold row is out of the pool, as a pool item the lead marks gold (quality.gold).
        Item.State.GOLD if row.gold else Item.State.LABELED if seeded else Item.State.POOL,
        row.label,
        None if row.labels is None else json.dumps(row.labels),
        None if row.spans is None else json.dumps(row.spans),
        Item.LabelSource.SEED if seeded else "",
        row.gold_label,
        None if row.gold_labels is None else json.dumps(row.gold_labels),
        None if row.gold_spans is None else json.dumps(row.gold_spans),
    ]


class _Layout:
    """The columns of rows that set `own` columns: those first, in that order, then every
    other column at its model default (so raw inserts keep up with new model fields).

    The defaults' cells are converted once, and on PostgreSQL encoded once as the CSV
    text that ends every line (`copy_text`); a row converts only its own.
    """

    def __init__(self, own: Sequence[str]) -> None:
        defaults = _defaults(timezone.now().isoformat())
        unknown = set(own) - set(defaults)
        if unknown:
            raise ValueError(f"not columns of an item: {sorted(unknown)}")
        self.own_defaults = {name: defaults[name] for name in own}
        rest = [name for name in defaults if name not in self.own_defaults]
        self.columns = [*own, *rest]
        self.rest: list[Any] = [_cell(defaults[name]) for name in rest]
        self.rest_text = "".join("," + _copy_cell(cell) for cell in self.rest) + "\n"

    def copy_line(self, cells: Sequence[object]) -> str:
        """A row of own cells as a line of COPY's CSV text (csv.writer took twice as long:
        with the defaults written row by row, a third of an import's own time)."""
        return ",".join(map(_copy_cell, cells)) + self.rest_text


class _ImportLines:
    """An import's rows as COPY lines. Most rows set only a text and perhaps a label:
    theirs are the lines `_row_cells` and `_copy_cell` give such a row once, with the
    text and the label quoted into them (four times faster than converting each cell,
    two of a million-row import's CPU-seconds). Every other row is converted cell by
    cell; either way the lines are those two functions' (`copy_line`).
    """

    TEXT, LABEL = "\x01text\x01", "\x01label\x01"  # in the templates only

    def __init__(self, layout: _Layout, project_id: int) -> None:
        self.layout = layout
        self.project_id = project_id

        def parts(label: str | None) -> list[str]:
            row = ParsedRow(line=0, text=self.TEXT, label=label)
            line = layout.copy_line(_row_cells(project_id, row, ""))
            before, after = line.split(_copy_cell(self.TEXT))
            return [before, *after.split(_copy_cell(self.LABEL))]

        self.unlabelled = {None: parts(None), "": parts("")}
        self.labelled = parts(self.LABEL)

    def text(self, rows: Sequence[ParsedRow], images: Sequence[str]) -> str:
        """The lines of `rows`, whose images (if any) are `images`."""
        if images:
            return "".join(
                [
                    self.layout.copy_line(_row_cells(self.project_id, row, image))
                    for row, image in zip(rows, images, strict=True)
                ]
            )
        return "".join(map(self._line, rows))

    def _line(self, row: ParsedRow) -> str:
        label = row.label
        if (
            row.meta
            or row.vector is not None
            or row.labels is not None
            or row.spans is not None
            or row.gold
        ):
            return self.layout.copy_line(_row_cells(self.project_id, row, ""))
        text = '"' + row.text.replace('"', '""') + '"'
        if not label:
            before, after = self.unlabelled[label]
            return before + text + after
        before, middle, after = self.labelled
        return before + text + middle + '"' + label.replace('"', '""') + '"' + after


def _cell(value: object) -> object:
    """A Python value as the database driver takes it for the column (JSON as text)."""
    if isinstance(value, dict | list):
        # Most rows' meta is empty: its JSON is known (dumping it was a sixth of an import).
        return json.dumps(value) if value else ("{}" if isinstance(value, dict) else "[]")
    return value


def _copy_cell(cell: object) -> str:
    """A cell in COPY's CSV (NULL '\\N'): every string quoted, so an empty string or a
    text that reads "\\N" is never taken for NULL; booleans as PostgreSQL reads them."""
    if isinstance(cell, str):  # most cells
        return '"' + cell.replace('"', '""') + '"'
    if cell is None:
        return "\\N"
    if isinstance(cell, bool):
        return "t" if cell else "f"
    if isinstance(cell, int):  # int(): an IntegerChoices member's repr is not its number
        return str(int(cell))
    if isinstance(cell, float):
        return repr(float(cell))
    raise TypeError(f"no COPY text for {type(cell).__name__}")


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
    projects_hold([project_id])
    postgres = connection.vendor == "postgresql"
    layout = _Layout(IMPORTED)
    lines = _ImportLines(layout, project_id) if postgres else None
    rows = iter(rows)
    start = 0
    with _Pipelined(layout) if postgres else nullcontext() as copy:
        while chunk := list(itertools.islice(rows, INSERT_CHUNK)):
            if copy is not None and lines is not None:
                copy.send(lines.text(chunk, images[start : start + len(chunk)]))
            else:
                own = (
                    _row_cells(project_id, row, images[start + i] if images else "")
                    for i, row in enumerate(chunk)
                )
                placeholders = ", ".join(["%s"] * len(layout.columns))
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO projects_item ({', '.join(layout.columns)}) "
                        f"VALUES ({placeholders})",
                        [cells + layout.rest for cells in own],
                    )
            start += len(chunk)
    return start


def projects_hold(project_ids: Sequence[int]) -> None:
    """Hold the rows of the projects items are about to be added to until the transaction
    ends, or raise Conflict if one has been deleted.

    This is what a foreign key from items to projects would do, once per insert instead
    of once per row (`Item.project` has no constraint in the database). On PostgreSQL a
    key-share lock: a deletion, which locks the project first (`project_remove`), waits
    for the insert's commit; row updates of the project do not. SQLite serialises writers.
    """
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    table = Project._meta.db_table
    with connection.cursor() as cursor:
        for project_id in project_ids:
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s{lock}", [project_id])
            if cursor.fetchone() is None:
                raise Conflict(f"Project {project_id} has been deleted: its items were not added.")


# Rows per INSERT ... RETURNING: SQLite allows 32,766 parameters a statement.
RETURNING_CHUNK = 500


def item_rows_insert(rows: Sequence[dict[str, object]]) -> list[int]:
    """Insert items given by their own columns (the rest take the model's defaults) and
    return their ids in the order of `rows`; the caller holds the transaction.

    One multi-row `INSERT ... RETURNING id` per chunk, on SQLite (3.35+) and PostgreSQL
    alike. Ids come from one sequence and rise within a statement, so sorted they line
    up with the rows (RETURNING itself promises no order). A column some rows set and
    others do not takes its default in the others.
    """
    projects_hold(sorted({cast(int, row["project_id"]) for row in rows}))
    own = list(dict.fromkeys(name for row in rows for name in row))
    layout = _Layout(own)
    columns = ", ".join(layout.columns)
    row_sql = "(" + ", ".join(["%s"] * len(layout.columns)) + ")"
    missing = layout.own_defaults
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), RETURNING_CHUNK):
            chunk = rows[start : start + RETURNING_CHUNK]
            sql = (
                f"INSERT INTO {Item._meta.db_table} ({columns}) "
                f"VALUES {', '.join([row_sql] * len(chunk))} RETURNING id"
            )
            params: list[Any] = []
            for row in chunk:
                params += [_cell(row.get(name, missing[name])) for name in own]
                params += layout.rest
            cursor.execute(sql, params)
            ids.extend(sorted(int(r[0]) for r in cursor.fetchall()))
    return ids


# Characters psycopg2 reads from a chunk's text at a time. Each read takes the GIL from
# the thread parsing the next chunk; at psycopg2's default (8 KiB), a 1M-row import's
# 30,000 hand-offs made it a quarter slower (14.2-15.8 s against 11.0-11.3 s in-process).
COPY_BLOCK = 1 << 20


class _Pipelined:
    """COPY chunks on the open connection from one helper thread, one chunk in flight.

    `send` waits for the previous chunk's COPY, then starts this one's and returns, so the
    caller parses the next chunk while the server stores this one. psycopg2 releases the
    GIL while it waits on the server, and its connections may be shared by threads; the
    caller uses the connection for nothing else until the block ends, which waits for
    the last COPY (on an error too, so a rollback never races a COPY) and raises its error.
    """

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.sql = (
            f"COPY projects_item ({', '.join(layout.columns)}) FROM STDIN "
            "WITH (FORMAT csv, NULL '\\N')"
        )
        connection.ensure_connection()
        self.raw = connection.connection
        self.errors = connection.wrap_database_errors  # Django's exceptions, as a cursor's
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-copy")
        self.pending: Future[None] | None = None

    def __enter__(self) -> _Pipelined:
        return self

    def send(self, text: str) -> None:
        """COPY lines of rows (`_ImportLines`), once the previous chunk is stored."""
        buffer = io.StringIO(text)
        self._wait()
        self.pending = self.pool.submit(self._copy, buffer)

    def _copy(self, buffer: io.StringIO) -> None:
        with self.errors, self.raw.cursor() as cursor:
            cursor.copy_expert(self.sql, buffer, size=COPY_BLOCK)

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
