"""Django's Host check answers every request: no middleware may answer ahead of it.

One URL of each family (pages, API, the stream's post with a token, images, exports,
the admin, login, static-free views) is asked with a Host that is not allowed, as GET
and as POST; each must get 400.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from projects import services

pytestmark = pytest.mark.django_db

BAD_HOST = "evil.example"


@pytest.fixture
def project(users):  # type: ignore[no-untyped-def]
    project = services.project_create(
        user=users["lead"], name="Hosts", kind="text", labels=["a", "b"], stream_budget=0.5
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    return project


def _urls(pid: int) -> list[str]:
    return [
        "/",
        "/login/",
        "/admin/",
        "/api/schema/",
        "/api/docs/",
        "/api/auth/token/",
        "/api/projects/",
        f"/projects/{pid}/",
        f"/projects/{pid}/annotate/",
        f"/projects/{pid}/export/",
        f"/api/projects/{pid}/status/",
        f"/api/projects/{pid}/export/",
        f"/api/projects/{pid}/items/1/image/",
        f"/api/projects/{pid}/next/",
    ]


def _client(users: Any) -> Client:
    """Signed in both ways: a session (pages) and a token (the stream's fast path)."""
    token = Token.objects.create(user=users["ann1"]).key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    client.force_login(users["lead"])
    return client


def _ask(client: Client, method: str, url: str) -> Any:
    if method == "get":
        return client.get(url, HTTP_HOST=BAD_HOST)
    body = '{"text": "hello"}'
    return client.post(url, body, content_type="application/json", HTTP_HOST=BAD_HOST)


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_bad_host_gets_400_on_every_url_family(method: str, users: Any, project: Any) -> None:
    client = _client(users)
    for url in _urls(project.pk):
        response = _ask(client, method, url)
        assert response.status_code == 400, f"{method.upper()} {url}: {response.status_code}"


# Branch `stream` removes this middleware; until then it answers token posts itself,
# ahead of the host check. Once it is gone this test must pass (the mark disappears).
FAST_PATH = "projects.stream.middleware.StreamFastPathMiddleware" in settings.MIDDLEWARE


@pytest.mark.xfail(
    FAST_PATH, reason="the stream fast path answers ahead of the host check", strict=True
)
def test_a_bad_host_gets_400_on_a_stream_post_with_a_token(users: Any, project: Any) -> None:
    response = _ask(_client(users), "post", f"/api/projects/{project.pk}/stream/")
    assert response.status_code == 400
