"""Small database helpers shared by the request paths."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def commit_without_flush() -> None:
    """In the current transaction, don't wait at commit for the WAL flush (Postgres).

    A crash can then lose the last fraction of a second of such transactions, each
    whole, never half of one; for the callers that is cheaper than the flush wait.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


@cache
def _loading(model: type[Model], vendor: str) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Attnames, and per column the (converter, expression) pairs the compiler would apply."""
    fields = model._meta.concrete_fields
    converters = []
    for field in fields:
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        converters.append(tuple((converter, col) for converter in found))
    return tuple(f.attname for f in fields), tuple(converters)


def select_list(model: type[Model], alias: str) -> str:
    """Every concrete column of `model`, qualified by `alias`, in `model_from_row`'s order."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def model_from_row(model: type[M], row: Sequence[Any]) -> M:
    """An instance as the ORM would load it from `select_list`'s columns (the first of `row`).

    For the few reads every request makes: a plain cursor and `from_db` cost a third of
    what a queryset (or `raw()`) spends building the query and mapping its columns.
    """
    names, converters = _loading(model, connection.vendor)
    values = list(row[: len(names)])
    for i, pairs in enumerate(converters):
        for converter, col in pairs:
            values[i] = converter(values[i], col, connection)
    return model.from_db(connection.alias, names, values)
