"""`winnow.db.execute_prepared`: a statement prepared once per connection answers as
the plain statement does."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from winnow.db import _prepared, execute_prepared

pytestmark = pytest.mark.django_db


def _run(sql: str, params, types=None):  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params, types=types)
        return cursor.fetchall()


def _prepared_here(fragment: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%{fragment}%"],
        )
        return int(cursor.fetchone()[0])


def test_placeholders_become_numbered_parameters() -> None:
    named = _prepared("SELECT %(a)s + %(b)s, %(a)s, '50%%'", None)
    assert named.prepare.endswith("AS SELECT $1 + $2, $1, '50%'")
    assert named.execute == f"EXECUTE {named.name} (%(a)s, %(b)s)"
    positional = _prepared("SELECT %s, %s", None)
    assert positional.prepare.endswith("AS SELECT $1, $2")
    typed = _prepared("SELECT %(doc)s -> 'k'", (("doc", "jsonb"),))
    assert typed.prepare.startswith(f"PREPARE {typed.name} (jsonb) AS")
    assert typed.execute == f"EXECUTE {typed.name} (%(doc)s::jsonb)"
    with pytest.raises(ValueError):
        _prepared("SELECT %s, %(a)s", None)


@pytest.mark.postgres
def test_same_answers_as_the_plain_statement() -> None:
    sql = "SELECT %(n)s::int * 2, %(s)s::text || '%%', %(none)s::int IS NULL"
    params = {"n": 21, "s": "x", "none": None}
    assert _run(sql, params) == [(42, "x%", True)]
    assert _run("SELECT %s::int + %s::int", [1, 2]) == [(3,)]
    doc = json.dumps({"k": [1, 2]})
    assert _run("SELECT (%(doc)s -> 'k')::text", {"doc": doc}, (("doc", "jsonb"),)) == [("[1, 2]",)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_prepared_once_per_connection_and_again_after_a_reconnect() -> None:
    sql = "SELECT %s::int + 40 AS prepared_probe"
    for _ in range(3):
        assert _run(sql, [2]) == [(42,)]
    assert _prepared_here("prepared_probe") == 1
    connection.close()
    assert _run(sql, [2]) == [(42,)]
    assert _prepared_here("prepared_probe") == 1


@pytest.mark.postgres
def test_off_runs_the_plain_statement(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WINNOW_DB_PREPARE = False
    assert _run("SELECT %s::int + 1 AS unprepared_probe", [1]) == [(2,)]
    assert _prepared_here("unprepared_probe") == 0
