"""A dashboard polls the project's counts every 2 s: a large pool's count is kept a while
(it scans every item), a small one's never is; web processes that share a cache
(WINNOW_CACHE_URL) share a kept count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from projects import selectors
from projects.models import Item, Project

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


class Recorded(LocMemCache):
    """A cache of its own (a new name: local-memory caches of one name share their
    store) that records how long each count is kept."""

    def __init__(self) -> None:
        super().__init__(f"counts-{uuid.uuid4().hex}", {})
        self.timeouts: list[Any] = []

    def set(self, key: str, value: Any, timeout: Any = None, version: Any = None) -> None:
        self.timeouts.append(timeout)
        super().set(key, value, timeout, version)


@pytest.fixture
def kept(monkeypatch) -> Recorded:  # type: ignore[no-untyped-def]
    cache = Recorded()
    monkeypatch.setattr(selectors, "cache", cache)
    return cache


def _project(n: int) -> Project:
    project = Project.objects.create(name="counted", kind="text", labels=["a", "b"])
    Item.objects.bulk_create(Item(project=project, text=f"t{i}") for i in range(n))
    return project


def _counting_takes(monkeypatch, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Every count "takes" `seconds` (each clock reading advances by them)."""
    now = [100.0]

    def monotonic() -> float:
        now[0] += seconds
        return now[0]

    monkeypatch.setattr(selectors.time, "monotonic", monotonic)


def test_a_small_pools_counts_are_those_of_the_moment(monkeypatch, kept) -> None:  # type: ignore[no-untyped-def]
    project = _project(5)
    _counting_takes(monkeypatch, 1.0)  # slow, but the pool is small
    assert selectors.project_counts(project)["items"] == 5
    Item.objects.create(project=project, text="new")
    assert selectors.project_counts(project)["items"] == 6
    assert kept.timeouts == []


def test_a_large_pools_slow_count_is_kept_for_twenty_times_its_time(monkeypatch, kept) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(selectors, "LARGE_POOL", 5)
    project = _project(5)
    _counting_takes(monkeypatch, 0.1)
    assert selectors.project_counts(project)["items"] == 5
    assert kept.timeouts == [2]  # 20 x 0.1 s
    Item.objects.create(project=project, text="new")
    counts = selectors.project_counts(project)
    assert counts["items"] == 5  # still the kept count
    counts["items"] = -1  # a caller's change does not reach the kept one
    assert selectors.project_counts(project)["items"] == 5
    kept.delete(selectors.counts_key(project.pk))  # as when it expires
    _counting_takes(monkeypatch, 0.01)
    assert selectors.project_counts(project)["items"] == 6  # counted again
    assert kept.timeouts == [2]  # that count was quick: not kept


def test_a_kept_count_is_whole_seconds_and_at_least_one(monkeypatch, kept) -> None:  # type: ignore[no-untyped-def]
    """Redis keeps a key whole seconds; a timeout that rounds to 0 would not keep it."""
    monkeypatch.setattr(selectors, "LARGE_POOL", 5)
    monkeypatch.setattr(selectors, "SLOW_COUNT_SECONDS", 0.0)
    _counting_takes(monkeypatch, 0.001)
    selectors.project_counts(_project(5))
    assert kept.timeouts == [1]


def test_a_shared_cache_that_is_down_leaves_the_counts_to_the_database(
    settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Redis down (nothing listens on port 1): the dashboard still gets its counts."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    monkeypatch.setattr(selectors, "LARGE_POOL", 5)
    _counting_takes(monkeypatch, 1.0)
    project = _project(5)
    assert selectors.project_counts(project)["items"] == 5
    Item.objects.create(project=project, text="new")
    assert selectors.project_counts(project)["items"] == 6  # nothing was kept


def _another_redis_database(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/15"))


@pytest.mark.redis
def test_web_processes_with_one_cache_share_a_kept_count(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Eight web processes each counting a 1M pool for themselves made the database
    count up to eight times as often; with WINNOW_CACHE_URL another process reads the
    count this one kept."""
    url = _another_redis_database(settings.CELERY_BROKER_URL)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "winnow",
        }
    }
    monkeypatch.setattr(selectors, "LARGE_POOL", 5)
    _counting_takes(monkeypatch, 1.0)  # kept 20 s: longer than the other process starts
    project = _project(5)
    key = selectors.counts_key(project.pk)
    cache.delete(key)
    try:
        counts = selectors.project_counts(project)
        read = (
            "import django, json; django.setup(); from django.core.cache import cache; "
            f"print(json.dumps(cache.get({key!r})))"
        )
        env = {
            **os.environ,
            "WINNOW_CACHE_URL": url,
            "DJANGO_SETTINGS_MODULE": "winnow.settings",
            "DEBUG": "true",
        }
        done = subprocess.run(
            [sys.executable, "-c", read], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1]) == counts
    finally:
        cache.delete(key)
