"""Planner statistics of the item table, kept fresh after pool-wide writes (Postgres)."""

from __future__ import annotations

from django.db import connection

from projects.models import Item


def items_tidy() -> None:
    """Vacuum and analyze the item table after a pool-wide write (Postgres): an import.

    Left to autovacuum (off on some servers, behind on busy ones), stale statistics of
    a large fresh import make the ranking and hand-out queries scan instead of seek.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if connection.in_atomic_block:  # VACUUM cannot run in a transaction
            cursor.execute(f"ANALYZE {Item._meta.db_table}")
        else:
            cursor.execute(f"VACUUM (ANALYZE) {Item._meta.db_table}")


# Dead rows, as a share of live ones, past which a rescore vacuums the item table:
# autovacuum's default threshold, for servers where it is off or falls behind.
TIDY_DEAD_SHARE = 0.2


def items_tidy_after_rescore() -> None:
    """Fresh statistics of the ranking columns; a vacuum only once dead rows pile up.

    A rescore writes only the top of its ranking (a few thousand rows), so a vacuum of
    the whole table each time is not needed. But the ranking query's filter
    `scored_version >= newest` is estimated from these statistics: stale, the planner
    expects no row of the new version and sorts the whole pool instead of reading the
    top of the ranking index.
    """
    if connection.vendor != "postgresql":
        return
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass",
            [table],
        )
        live, dead = cursor.fetchone() or (0, 0)
        if dead > TIDY_DEAD_SHARE * live + 50 and not connection.in_atomic_block:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        else:
            cursor.execute(f"ANALYZE {table} (score, scored_version)")
