"""Errors the services raise, the API's mapping of them to clear 4xx answers, and the
OpenAPI description of those answers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from winnow.unavailable import MESSAGE, RETRY_AFTER_SECONDS, UNAVAILABLE
from winnow.uploads import UploadTooLarge


class Conflict(Exception):
    """The request is well-formed but clashes with the current state (HTTP 409)."""


class Rejected(Exception):
    """The input as a whole is refused, say an unreadable upload (HTTP 400)."""


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Domain errors become clear 4xx answers: validation 400, conflicts 409, too large 413;
    a database that cannot be reached 503 with Retry-After (`winnow.unavailable`)."""
    if isinstance(exc, UNAVAILABLE):
        return Response(
            {"detail": MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, UploadTooLarge):
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, ValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Conflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Rejected):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


ErrorDetail = inline_serializer("ErrorDetail", {"detail": serializers.CharField()})
_ANSWERS = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="The input is refused: each field's messages by name, or `detail`.",
    ),
    401: OpenApiResponse(ErrorDetail, description="No valid session or API token."),
    403: OpenApiResponse(ErrorDetail, description="The caller's role may not do this."),
    404: OpenApiResponse(
        ErrorDetail,
        description="No such project for the caller (outsiders always get 404), "
        "or no such object in it.",
    ),
    409: OpenApiResponse(ErrorDetail, description="Clashes with the current state."),
    413: OpenApiResponse(ErrorDetail, description="The upload is over the size limit."),
    415: OpenApiResponse(ErrorDetail, description="The body is not of a documented type."),
    429: OpenApiResponse(ErrorDetail, description="Too many attempts: try again later."),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation gives, for its `extend_schema(responses=...)`; the
    bodies are what `api_exception_handler` and DRF write."""
    return {code: _ANSWERS[code] for code in codes}
