"""Shared fixtures: the named users, API clients, real services and a real worker.

The real PostgreSQL and Redis are used when DATABASE_URL / CELERY_BROKER_URL
point at them (`.ci/run` does, and sets WINNOW_REQUIRE_SERVICES=1 so that a
missing service fails the run instead of skipping).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from projects.pool import features
from projects.training import services as training_services
from tests.support import services as support

REQUIRE_SERVICES = os.environ.get("WINNOW_REQUIRE_SERVICES") == "1"
# Password hashing is deliberately slow; tests create many users.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Test set-ups add members by the hundred (property tests, many examples per test);
# tests/access/test_members.py sets the limit it tests.
settings.WINNOW_MEMBER_ADDS_PER_HOUR = 100_000


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


# What a test that touches the database asks for (directly or through other fixtures).
_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_setup"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db-only",
        action="store_true",
        help="run only the tests that touch the database (scripts/test's second, SQLite pass)",
    )


def _touches_database(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("django_db") is not None or bool(_DB_FIXTURES & names)


def pytest_configure(config: pytest.Config) -> None:
    """scripts/test names each pass's database: a stray DATABASE_URL must not swap it."""
    expected = os.environ.get("WINNOW_TEST_DATABASE")
    engine = settings.DATABASES["default"]["ENGINE"]
    if expected and not engine.rsplit(".", 1)[-1].startswith(expected):  # sqlite3, postgresql
        raise pytest.UsageError(f"WINNOW_TEST_DATABASE={expected} but the database is {engine}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--db-only"):
        kept = [item for item in items if _touches_database(item)]
        deselected = [item for item in items if not _touches_database(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    on_redis = settings.CELERY_BROKER_URL.startswith("redis")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            reason = "needs PostgreSQL: set DATABASE_URL=postgres://... (see README)"
            marker = (
                pytest.mark.xfail(reason=reason, run=False, strict=True)
                if REQUIRE_SERVICES
                else pytest.mark.skip(reason=reason)
            )
            item.add_marker(marker)
        if "redis" in item.keywords and not on_redis:
            reason = "needs Redis: set CELERY_BROKER_URL=redis://... (see README)"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counts live in the cache and user ids repeat between tests: start empty.
    So do project ids (on SQLite), by which each process keeps a pool's projection and
    its loaded model versions (a span test's CRF must not answer a later test's v1)."""
    cache.clear()
    features._GEOMETRY.clear()
    training_services.load_model.cache_clear()


@pytest.fixture
def make_user(db: None):  # type: ignore[no-untyped-def]
    def make(username: str, *, staff: bool = False):  # type: ignore[no-untyped-def]
        return get_user_model().objects.create_user(
            username=username, password="pw-" + username, is_staff=staff
        )

    return make


@pytest.fixture
def users(make_user):  # type: ignore[no-untyped-def]
    """The base cast: a lead, two annotators, a reviewer and an outsider."""
    return {name: make_user(name) for name in ("lead", "ann1", "ann2", "reviewer", "outsider")}


@pytest.fixture
def api(users):  # type: ignore[no-untyped-def]
    """An APIClient per named user, authenticated with a token."""
    clients = {}
    for name, user in users.items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        clients[name] = client
    return clients


_running_workers: list[support.Worker] = []


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[support.Worker]:  # type: ignore[no-untyped-def]
    """A real `celery -A winnow worker` process on the test database and the real broker."""
    if REQUIRE_SERVICES and not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.fail("CI must run the worker on Redis")
    worker = support.Worker.start()
    _running_workers.append(worker)
    _consuming["on"] = True
    try:
        yield worker
    finally:
        _running_workers.remove(worker)
        worker.stop()


# Whether the session's worker takes messages from the queue (`_session_worker_for_its_tests`).
_consuming = {"on": True}


@pytest.fixture(autouse=True)
def _session_worker_for_its_tests(request: pytest.FixtureRequest) -> None:
    """The session's worker takes the messages of the tests that ask for it
    (`celery_worker_process`) and of no other: a test written without a worker must not
    meet a retrain running behind its back (CI met two that did), and a test's own
    workers must get its messages. The worker stops or starts consuming where the kind
    of test changes; what the others left on the queue is dropped first."""
    wants = "celery_worker_process" in request.fixturenames
    if _running_workers and wants != _consuming["on"]:
        _consume(on=wants)


def _consume(*, on: bool) -> None:
    from winnow.celery import app

    names = [worker.name for worker in _running_workers]
    told = {"destination": names, "reply": True, "timeout": 10, "limit": len(names)}
    if on:
        app.control.purge()
        app.control.add_consumer("celery", **told)
    else:
        for worker in _running_workers:
            worker.wait_idle()
        app.control.cancel_consumer("celery", **told)
    _consuming["on"] = on


def _transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    in_marker = marker is not None and bool(
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    return in_marker or bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _worker_idle_before_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    """Once the session's worker runs, every test's tasks reach it, also tests that don't
    wait for them. Its writes must be over before a transactional test's flush."""
    if not _transactional(request):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so torn down after this
    yield
    for worker in _running_workers:
        worker.wait_idle()
