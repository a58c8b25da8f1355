"""The stream's hot path, answered ahead of the session, CSRF, auth and messages
middleware, the URL resolver and DRF.

A stream feeder posts one small JSON object per arrival, with an API token, as
fast as the web worker answers (PRODUCT.md §6; ``benchmarks/stream.py``). For
such a post the framework cost more than the decision: the middleware above and
DRF's request, negotiation and response machinery did nothing for it but took
about half of the worker's time per post. So this middleware, placed after the
security middleware (host check, HTTPS redirect and security headers still
apply), answers exactly that case itself with the same services as the view:
DRF's token rules (``StreamTokenAuthentication``), ``stream_caller`` and
``stream_item_add``. Anything else (a session or multipart post, a body that is
not a JSON object, and every refusal: bad token, not a member, bad input, closed
stream, stale caller) goes on to ``projects.stream.api.StreamView``, which
answers it as before; nothing is written before such a refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework.exceptions import APIException

from projects.access import STREAM_ROLES
from projects.stream import services as stream
from projects.stream.access import StreamTokenAuthentication, stream_caller
from projects.stream.api import StreamView, stream_forget
from winnow.unavailable import UNAVAILABLE

# The path of ``api-stream`` (winnow/api_urls.py; a test checks they agree).
PATH = re.compile(r"/api/projects/(?P<project_id>[0-9]+)/stream/")

# What the view answers instead: refusals (4xx).
_THE_VIEWS = (
    # the database unreachable: the view answers 503 (`winnow.errors`)
    *UNAVAILABLE,
    APIException,
    Http404,
    DjangoPermissionDenied,
    DjangoValidationError,
    ObjectDoesNotExist,
    stream.StreamClosed,
)
# The headers DRF's view adds to a JSON answer.
_VIEW_HEADERS = {
    "Content-Type": "application/json",
    "Vary": "Accept",
    "Allow": ", ".join(StreamView().allowed_methods),
}


class StreamFastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.auth = StreamTokenAuthentication()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        answer = None
        if request.method == "POST" and request.content_type == "application/json":
            match = PATH.fullmatch(request.path_info)
            if match is not None:
                answer = self._answer(request, match["project_id"])
        return answer if answer is not None else self.get_response(request)

    def _answer(self, request: HttpRequest, project_id: str) -> HttpResponse | None:
        """The decision, or None for the view to answer."""
        try:
            data = json.loads(request.body)
        except (RequestDataTooBig, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            authenticated = self.auth.authenticate(request)  # type: ignore[arg-type]
            if authenticated is None:  # no token: a session, say
                return None
            user, token = authenticated
            caller = stream_caller(user, project_id, STREAM_ROLES)
            decision = stream.stream_item_add(
                caller=caller,
                token=token.key,
                text=data.get("text"),
                vector=data.get("features"),
                meta=data.get("meta"),
            )
        except stream.StaleCaller:
            stream_forget(user, project_id, token.key)  # the view looks them up afresh
            return None
        except _THE_VIEWS:
            return None
        return _json_response(decision.as_dict())


def _json_response(payload: dict[str, Any]) -> HttpResponse:
    """As DRF's JSONRenderer writes it (compact, UTF-8)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    response = HttpResponse(body, headers=_VIEW_HEADERS)
    response.headers["Content-Length"] = str(len(body))
    return response
