"""The Celery app: `celery -A winnow worker`."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "winnow.settings")

app = Celery("winnow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _background_priority(**_: Any) -> None:
    """Retrains are background work annotators never wait on (PRODUCT.md §2.4): where a
    worker shares CPUs with the web, requests come first. The thread that runs tasks
    raises its niceness at its first task, however the worker was launched (compose,
    rundemo, systemd), once the process has kept a thread at its starting priority for
    the work that holds locks requests wait on (`winnow.priority.urgently`). Measured on
    2 cores, 16 paced annotators on a 100k pool with retrains back to back: next/ p99
    122 -> 28 ms, and more retrains finished, not fewer."""
    from django.conf import settings

    from winnow.priority import background

    background(settings.WINNOW_WORKER_NICE)


@worker_init.connect
def _keep_freed_memory(**_: Any) -> None:
    """A rescore's arrays reuse memory the worker has freed, not fresh pages from the
    kernel for every chunk (`winnow.allocator`). Set before the pool starts: a prefork
    pool's processes inherit it."""
    from django.conf import settings

    from winnow.allocator import malloc_keep

    malloc_keep(settings.WINNOW_WORKER_MMAP_MB, settings.WINNOW_WORKER_TRIM_MB)


@task_prerun.connect
@task_postrun.connect
def _connections_as_a_request(sender: Any = None, **_: Any) -> None:
    """A task's database connections live as a request's: kept for CONN_MAX_AGE, checked
    before reuse, dropped if broken (`close_old_connections`), where Celery's fixup
    would close them after every task (CELERY_DB_REUSE_MAX). Not for a task run eagerly,
    inside its caller's request or transaction."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
