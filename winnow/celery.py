"""The Celery app: `celery -A winnow worker`."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "winnow.settings")

app = Celery("winnow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def niceness_at_least(target: int) -> int:
    """Raise this process's niceness to `target` and return it; never lower it (that takes
    privilege, and whoever started the worker lower had a reason)."""
    if not hasattr(os, "nice"):  # not on this platform: nothing to do
        return 0
    current = os.nice(0)
    return os.nice(target - current) if target > current else current


@worker_init.connect
def _background_priority(**_: Any) -> None:
    """Retrains are background work annotators never wait on (PRODUCT.md §2.4): where a
    worker shares CPUs with the web, requests come first. Set before the pool starts, so
    every pool process inherits it, however the worker was launched (compose, rundemo,
    systemd). Measured on 2 cores, 16 paced annotators on a 100k pool with retrains
    back to back: next/ p99 122 -> 28 ms, and more retrains finished, not fewer."""
    from django.conf import settings

    niceness_at_least(settings.WINNOW_WORKER_NICE)
