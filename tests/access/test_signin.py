"""Sign-in throttling (django-axes): per name and address, and per address alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings: Any) -> int:
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def _token(client: APIClient, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    body = {"username": username, "password": password}
    return client.post("/api/auth/token/", body, format="json", REMOTE_ADDR=ip)


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_token_endpoint_locks_a_name_out_with_a_json_429(users: Any, limit: int) -> None:
    client = APIClient()
    for _ in range(limit - 1):
        assert _token(client, "ann1", "wrong").status_code == 400
    locked = _token(client, "ann1", "wrong")
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.json()["detail"]
    # Locked means locked: the right password does not get through either.
    assert _token(client, "ann1", "pw-ann1").status_code == 429


def test_lockout_answers_alike_for_existing_and_unknown_names(users: Any, limit: int) -> None:
    answers = []
    for username, ip in (("ann1", "10.0.0.2"), ("nobody-here", "10.0.0.3")):
        client = APIClient()
        for _ in range(limit):
            response = _token(client, username, "wrong", ip)
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 429


def test_login_page_locks_out_with_the_site_layout_and_a_way_back(users: Any, limit: int) -> None:
    client = Client()
    for _ in range(limit):
        response = _login(client, "ann1", "wrong")
    assert response.status_code == 429
    page = response.content.decode()
    assert "locked for 15 minutes" in page and 'href="/login/"' in page and "topbar" in page
    assert _login(client, "ann1", "pw-ann1").status_code == 429


def test_one_address_trying_many_names_is_locked_out(users: Any, limit: int) -> None:
    client = APIClient()
    for name in ("a1", "a2", "a3"):
        _token(client, name, "wrong", "10.0.0.9")
    assert _token(client, "ann2", "pw-ann2", "10.0.0.9").status_code == 429
    # ... while the same name from elsewhere still signs in.
    assert _token(client, "ann2", "pw-ann2", "10.0.0.10").status_code == 200


def test_behind_a_proxy_the_address_is_the_one_the_proxy_appended(
    users: Any, limit: int, settings: Any
) -> None:
    settings.WINNOW_TRUST_FORWARDED_FOR = True
    client = APIClient()
    proxy = "10.9.9.9"
    for name in ("a1", "a2", "a3"):  # one client behind the proxy tries many names...
        client.post(
            "/api/auth/token/",
            {"username": name, "password": "x"},
            format="json",
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"1.2.3.{len(name)}, 192.0.2.7",  # a spoofed first entry
        )
    # ... and is locked out, while another client behind the same proxy is not.
    elsewhere = {"REMOTE_ADDR": proxy, "HTTP_X_FORWARDED_FOR": "192.0.2.8"}
    body = {"username": "ann1", "password": "pw-ann1"}
    assert client.post("/api/auth/token/", body, format="json", **elsewhere).status_code == 200
    same = {"REMOTE_ADDR": proxy, "HTTP_X_FORWARDED_FOR": "192.0.2.7"}
    assert client.post("/api/auth/token/", body, format="json", **same).status_code == 429
