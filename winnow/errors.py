"""Errors the services raise, and the API's mapping of them to clear 4xx answers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from winnow.unavailable import MESSAGE, RETRY_AFTER_SECONDS, UNAVAILABLE


class Conflict(Exception):
    """The request is well-formed but clashes with the current state (HTTP 409)."""


class Rejected(Exception):
    """The input as a whole is refused, say an unreadable upload (HTTP 400)."""


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Domain errors become clear 4xx answers: validation 400, conflicts 409; a database
    that cannot be reached 503 with Retry-After (`winnow.unavailable`)."""
    if isinstance(exc, UNAVAILABLE):
        return Response(
            {"detail": MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, ValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Conflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Rejected):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)
