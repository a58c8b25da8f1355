"""A pool's item columns as numpy arrays, in one binary COPY on PostgreSQL.

Every retrain reads each item's id, state, label and holdout flag. Through the ORM that
was a million Python tuples, their strings mapped to codes one by one: seconds at a
million items, most of a steady-state retrain's "load features". Here PostgreSQL
computes the codes (a state's and a label's position in their lists, -1 for none) and
sends fixed-width binary rows, which numpy reads as they are. Other databases (SQLite
in tests and single-host use) keep the ORM path in `projects.pool.snapshot`.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from django.db import connection

from projects.models import Item

STATES = tuple(str(s) for s in Item.State.values)

_QUERY = (
    "COPY (SELECT id::int8,"
    " (COALESCE(array_position(%s::text[], state::text), 0) - 1)::int2,"
    " (COALESCE(array_position(%s::text[], label::text), 0) - 1)::int2,"
    " is_holdout"
    " FROM projects_item WHERE project_id = %s ORDER BY id) TO STDOUT WITH (FORMAT binary)"
)
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
_LENGTHS = {"fields": 4, "id_len": 8, "state_len": 2, "label_len": 2, "holdout_len": 1}


def fast() -> bool:
    """Whether this database reads columns by binary COPY (PostgreSQL)."""
    return connection.vendor == "postgresql"


def item_columns(
    project_id: int, labels: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids int64, states as str, label codes int64 (-1: none), holdout bool), by id.

    A label not in `labels` counts as none, as `snapshot.label_codes` has it.
    """
    fh = io.BytesIO()
    with connection.cursor() as cursor:
        raw: Any = cursor.cursor
        sql = raw.mogrify(_QUERY, [list(STATES), list(labels), project_id]).decode()
        raw.copy_expert(sql, fh)
    data = fh.getbuffer()
    count = (len(data) - _HEADER - 2) // _ROW.itemsize
    if len(data) != _HEADER + count * _ROW.itemsize + 2:
        raise RuntimeError("unexpected COPY output for the pool's columns")
    rows = np.frombuffer(data, dtype=_ROW, count=count, offset=_HEADER)
    for field, expected in _LENGTHS.items():
        if count and not bool((rows[field] == expected).all()):
            raise RuntimeError(f"unexpected COPY field {field} for the pool's columns")
    codes = rows["state"].astype(np.int64)
    if count and int(codes.min()) < 0:
        raise RuntimeError("an item state this code does not know")
    states = np.array(STATES)[codes]
    ids = rows["id"].astype(np.int64)
    label = rows["label"].astype(np.int64)
    holdout = rows["holdout"].astype(bool)
    del rows, data
    return ids, states, label, holdout
