"""Small database helpers shared by the request paths."""

from __future__ import annotations

from django.db import connection


def commit_without_flush() -> None:
    """In the current transaction, don't wait at commit for the WAL flush (Postgres).

    A crash can then lose the last fraction of a second of such transactions, each
    whole, never half of one; for the callers that is cheaper than the flush wait.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
