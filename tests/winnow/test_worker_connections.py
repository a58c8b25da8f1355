"""A worker keeps its database connection from task to task, as a web process keeps its
own from request to request (CONN_MAX_AGE): Celery's Django fixup closed every
connection after each task, so every task connected anew (`winnow.celery`)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from tests.support.faults import skip_or_fail

TASKS = 20


def _sessions() -> int:
    """Connections ever made to the test database (PostgreSQL counts them), read on a
    connection of its own so that no snapshot of the statistics is kept."""
    with connection.temporary_connection() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def _wait_done(worker, count: int) -> None:  # type: ignore[no-untyped-def]
    """Until the worker's log says `count` sweeps succeeded (its queue is not purged)."""
    deadline = time.monotonic() + 60
    while worker.output().count("resend_owed_work[") < 2 * count:  # received, succeeded
        assert time.monotonic() < deadline, worker.output()[-3000:]
        time.sleep(0.1)
    time.sleep(1.5)  # the statistics are written at most a second late


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_reuses_its_database_connection_across_tasks(celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        skip_or_fail("PostgreSQL counts the connections made to a database")
    from projects import tasks

    done = celery_worker_process.output().count("resend_owed_work[") // 2
    tasks.resend_owed_work.delay()  # the worker has connected once
    _wait_done(celery_worker_process, done + 1)
    before = _sessions()
    for _ in range(TASKS):
        tasks.resend_owed_work.delay()  # each one queries the database
    _wait_done(celery_worker_process, done + 1 + TASKS)
    made = _sessions() - before
    # This test's own reads of the statistics, and a worker thread's (its sweeper or a
    # heartbeat) connection, at most; Celery's own closing made one per task.
    assert made <= 4, made
