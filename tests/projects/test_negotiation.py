"""The API's content negotiation answers as DRF's does, for every Accept header."""

from __future__ import annotations

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from winnow.negotiation import JSONFirstNegotiation

RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


@pytest.mark.parametrize(
    "accept",
    [
        None, "*/*", "application/json", " application/json ", "text/html",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "application/json; indent=4", "application/json;q=0.5, text/html",
    ],
)  # fmt: skip
def test_same_renderer_and_type_as_drf(accept: str | None) -> None:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/api/projects/", **headers))
    ours = JSONFirstNegotiation().select_renderer(request, RENDERERS)
    drf = DefaultContentNegotiation().select_renderer(request, RENDERERS)
    assert (type(ours[0]), ours[1]) == (type(drf[0]), drf[1])


def test_a_browser_still_gets_the_browsable_api(api) -> None:  # type: ignore[no-untyped-def]
    response = api["lead"].get("/api/projects/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
