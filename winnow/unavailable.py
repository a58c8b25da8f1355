"""The database unreachable for a moment (a restart, a failover): 503 with Retry-After.

A lost connection is an outage, not a bug: the client is told to try again shortly
instead of being shown a 500 (or, in development, a traceback). Each request runs
its writes in one transaction, so nothing of an interrupted one remains.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = (OperationalError, InterfaceError)
MESSAGE = "The database is unavailable for a moment; try again shortly."


def unavailable_response() -> HttpResponse:
    response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Answers only for a view that raised (`process_exception`), after every check ran."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable_response() if isinstance(exception, UNAVAILABLE) else None
