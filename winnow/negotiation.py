"""DRF's content negotiation, with the API's common case answered without parsing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# What API clients send (requests, curl and fetch send */*; many send JSON's type).
_JSON_OR_ANY = frozenset({"", "*/*", "application/json"})


class JSONFirstNegotiation(DefaultContentNegotiation):
    """An Accept of JSON or of anything gets the first renderer when that is JSON, as
    DRF's negotiation decides it, without parsing the header and matching every
    renderer (a fixed cost of every API call). Other Accept headers (a browser's, say,
    for the browsable API) are negotiated by DRF."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        first = renderers[0] if renderers else None
        if (
            first is not None
            and format_suffix is None
            and first.media_type == "application/json"
            and request.META.get("HTTP_ACCEPT", "").strip() in _JSON_OR_ANY
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)  # type: ignore[no-any-return]
