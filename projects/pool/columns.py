"""A pool's item columns as numpy arrays: one queryset, read in bulk.

Every retrain reads each item's id, state, label and holdout flag. `codes_query` is the
one statement of how they become numbers: the database computes each state's and
label's position in their lists (-1 for none; on multi-label and span projects 0 where
the item has a final set or final spans). Only how the rows travel depends on the
database: PostgreSQL sends that queryset's own SQL through a binary COPY as fixed-width
rows numpy reads as they are (a million Python tuples cost seconds, most of a
steady-state retrain's load); other databases (SQLite in tests and single-host use)
through the cursor.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    F,
    Q,
    QuerySet,
    SmallIntegerField,
    Value,
    When,
)
from django.db.models.functions import Cast

from projects.models import Item, Project

STATES = tuple(str(s) for s in Item.State.values)
COLUMNS = ("item", "state_code", "label_code", "holdout")

# Binary COPY: an 11-byte signature, flags and header-extension length (int32 each);
# then per row a field count (int16) and per field its length (int32) and value, all
# big-endian; then -1 (int16).
_HEADER = 19
_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("id_len", ">i4"),
        ("id", ">i8"),
        ("state_len", ">i4"),
        ("state", ">i2"),
        ("label_len", ">i4"),
        ("label", ">i2"),
        ("holdout_len", ">i4"),
        ("holdout", "u1"),
    ]
)
_ID = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8")])


def _position(field: str, names: list[str]) -> Cast:
    """The index of `field`'s value in `names`, -1 if none or not among them."""
    whens = [When(**{field: name}, then=Value(i)) for i, name in enumerate(names)]
    return _small(Case(*whens, default=Value(-1)) if whens else Value(-1))


def _given(final: Q) -> Cast:
    """0 where `final` holds (the item has its final answer), else -1."""
    return _small(Case(When(final, then=Value(0)), default=Value(-1)))


def _small(expression: Any) -> Cast:
    return Cast(expression, SmallIntegerField())


def state_code(state: str) -> int:
    """A state's code in `item_columns`' state column."""
    return STATES.index(state)


def codes_query(project: Project) -> QuerySet[Item]:
    """(id, state code, label code, holdout) of every item of `project`, by id."""
    if project.task == Project.Task.MULTILABEL:
        label = _given(Q(labels__isnull=False))
    elif project.task == Project.Task.SPANS:
        label = _given(Q(spans__isnull=False))
    else:
        label = _position("label", list(project.labels))
    # Annotations only, in COLUMNS' order: the SQL selects them in that order too, which
    # the binary COPY's fixed-width rows rely on.
    return (
        Item.objects.filter(project=project)
        .annotate(
            item=Cast("id", BigIntegerField()),
            state_code=_position("state", list(STATES)),
            label_code=label,
            holdout=F("is_holdout"),
        )
        .order_by("id")
        .values_list(*COLUMNS)
    )


def item_columns(project: Project) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids int64, state codes int8 (positions in STATES), label codes int64, holdout
    bool), by id. States stay codes: as strings they would take 36 bytes an item."""
    query = codes_query(project)
    if connection.vendor == "postgresql":
        ids, codes, label, holdout = _copied(query, _ROW)
    else:
        table = np.array(list(query), dtype=np.int64).reshape(-1, len(COLUMNS))
        ids, codes, label, holdout = table.T
    if len(codes) and int(codes.min()) < 0:
        raise RuntimeError("an item state this code does not know")
    return ids.astype(np.int64), codes.astype(np.int8), label.astype(np.int64), holdout.astype(bool)


def item_ids(project: Project) -> np.ndarray:
    """Every item id of `project`, in id order (int64): on PostgreSQL through a binary
    COPY too (a million ids through the ORM's iterator took 0.6 s, twice on the way to
    an import's first model)."""
    query = Item.objects.filter(project=project).order_by("id")
    if connection.vendor != "postgresql":
        each = query.values_list("id", flat=True).iterator(chunk_size=20_000)
        return np.fromiter(each, dtype=np.int64)
    (ids,) = _copied(query.annotate(item=Cast("id", BigIntegerField())).values_list("item"), _ID)
    return ids


def _copied(query: QuerySet[Any], row: np.dtype[Any]) -> tuple[np.ndarray, ...]:
    """The query's rows through a binary COPY of its own SQL, as int64 columns; `row` is
    their fixed-width layout (a length before each value, the values' names without
    `_len`), which every row is checked against."""
    sql, params = query.query.sql_with_params()
    fh = io.BytesIO()
    with connection.cursor() as cursor:
        raw: Any = cursor.cursor
        copy = raw.mogrify(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", params).decode()
        raw.copy_expert(copy, fh)
    data = fh.getbuffer()
    count = (len(data) - _HEADER - 2) // row.itemsize
    if len(data) != _HEADER + count * row.itemsize + 2:
        raise RuntimeError("unexpected COPY output for the pool's columns")
    rows = np.frombuffer(data, dtype=row, count=count, offset=_HEADER)
    names = [n for n in row.names or () if n != "fields" and not n.endswith("_len")]
    lengths = {"fields": len(names), **{f"{n}_len": row[n].itemsize for n in names}}
    for field, expected in lengths.items():
        if count and not bool((rows[field] == expected).all()):
            raise RuntimeError(f"unexpected COPY field {field} for the pool's columns")
    columns = tuple(rows[name].astype(np.int64) for name in names)
    del rows, data
    return columns
