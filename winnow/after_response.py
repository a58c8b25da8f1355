"""Work a request hands off until its response has been sent.

Some work a request sets off does not change its answer: opening the next batch
before the open ones run dry (``projects.batches.services.batch_open_ahead``) is
work the annotator whose ``next/`` noticed it should not wait for. Handed to
``after_response`` it runs in the same thread once the server has sent the response
and closed it (Django's ``request_finished``, sent by the response's ``close()``),
before that thread serves another request. Outside a request (the worker, a shell,
a test calling a service) the work runs at once. A failure is logged, never raised:
the response is gone, and the work is of the kind the next request redoes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished, request_started
from django.dispatch import receiver

log = logging.getLogger(__name__)
_local = threading.local()


def after_response(work: Callable[[], Any]) -> None:
    """Run ``work`` once this thread's response has been sent (at once outside a request)."""
    pending: list[Callable[[], Any]] | None = getattr(_local, "pending", None)
    if pending is None:
        work()
    else:
        pending.append(work)


@receiver(request_started, dispatch_uid="winnow.after_response.begin")
def _begin(**kwargs: Any) -> None:
    _run()  # left by a request whose response was never closed
    _local.pending = []


@receiver(request_finished, dispatch_uid="winnow.after_response.finish")
def _finish(**kwargs: Any) -> None:
    _run()


def _run() -> None:
    pending, _local.pending = getattr(_local, "pending", None), None
    for work in pending or ():
        try:
            work()
        except Exception:
            log.exception("work after a response failed")
