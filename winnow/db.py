"""Small database helpers shared by the request paths."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import IntegerField, Model
from django.db.models.lookups import In

M = TypeVar("M", bound=Model)


@IntegerField.register_lookup
class AnyOf(In):
    """`field__any_of=ids`: IN (...), except on PostgreSQL, where the ids go as one array
    (`= ANY(%s)`). 20,000 ids took 0.29 s as an IN list of parameters, 0.05 s as one
    array; a 1M-item pool's vocabulary sample is ten such reads."""

    lookup_name = "any_of"

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]


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

    For the few reads every request makes: a plain cursor and `from_db` skip most of what
    a queryset (or `raw()`) spends building the query and mapping its columns.
    """
    names, converters = _loading(model, connection.vendor)
    values = list(row[: len(names)])
    for i, pairs in enumerate(converters):
        for converter, col in pairs:
            values[i] = converter(values[i], col, connection)
    return model.from_db(connection.alias, names, values)


# -- prepared statements -----------------------------------------------------------

_PLACEHOLDER = re.compile(r"%%|%s|%\((\w+)\)s")


@dataclass(frozen=True)
class _Prepared:
    name: str
    prepare: str  # PREPARE name [(types)] AS the statement with $n
    execute: str  # EXECUTE name (the caller's placeholders, in $n order)


@lru_cache(maxsize=256)
def _prepared(sql: str, types: tuple[tuple[str, str], ...] | None) -> _Prepared:
    """``sql`` (psycopg2's ``%s`` or ``%(name)s`` placeholders) as a prepared statement.

    ``types`` (name, SQL type) types the named parameters where Postgres can't infer
    them from the statement; the EXECUTE casts each argument to its type too (a text
    argument is not assigned to a jsonb parameter).
    """
    order: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        if match[0] == "%%":
            return "%"
        if match[1] is None:
            positional += 1
            return f"${positional}"
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    body = _PLACEHOLDER.sub(number, sql)
    if positional and order:
        raise ValueError("a statement takes either %s or %(name)s placeholders")
    typed = dict(types or ())
    signature = f" ({', '.join(typed[n] for n in order)})" if typed else ""
    name = "winnow_" + hashlib.sha1(f"{signature}\n{body}".encode()).hexdigest()[:20]
    if order:
        cast = {n: f"::{typed[n]}" if typed else "" for n in order}
        arguments = ", ".join(f"%({n})s{cast[n]}" for n in order)
    else:
        arguments = ", ".join(["%s"] * positional)
    return _Prepared(
        name=name,
        prepare=f"PREPARE {name}{signature} AS {body}",
        execute=f"EXECUTE {name} ({arguments})" if arguments else f"EXECUTE {name}",
    )


def execute_prepared(
    cursor: Any,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any],
    *,
    types: tuple[tuple[str, str], ...] | None = None,
) -> None:
    """``cursor.execute(sql, params)``, as a statement prepared once per connection.

    The statements every request runs (a token, a project and role, a claim, a label)
    are short, so on Postgres planning them costs about as much as running them. A
    prepared statement is planned once per database
    connection (Postgres may keep a generic plan after a few runs). Off with
    WINNOW_DB_PREPARE=false (a transaction-pooling PgBouncer, say); other databases
    run ``sql`` as it is.
    """
    if connection.vendor != "postgresql" or not settings.WINNOW_DB_PREPARE:
        cursor.execute(sql, params)
        return
    statement = _prepared(sql, types)
    raw = connection.connection
    known: tuple[Any, set[str]] | None = getattr(connection, "_winnow_prepared", None)
    if known is None or known[0] is not raw:  # a new connection has none of them
        known = (raw, set())
        connection._winnow_prepared = known  # type: ignore[attr-defined]
    if statement.name not in known[1]:
        cursor.execute(statement.prepare)
        known[1].add(statement.name)
    cursor.execute(statement.execute, params)
