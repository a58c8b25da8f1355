"""Sending tasks without letting an unreachable broker fail the caller.

The database records every piece of owed work, so a message that could not be sent
is only late: the worker's sweeper (`projects.training.sweeper`) re-sends it once the
broker is back. A request that recorded the work must not answer 500 meanwhile.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)


def task_send(task: Task[Any, Any], *args: Any, countdown: float = 0) -> bool:
    """Queue `task(*args)`; False (logged) if the broker could not be reached."""
    try:
        if countdown:
            task.apply_async(args, countdown=countdown)
        else:
            task.delay(*args)
    except (OperationalError, OSError) as exc:
        log.warning("broker unreachable, %s%r left for the re-send: %s", task.name, args, exc)
        return False
    return True
