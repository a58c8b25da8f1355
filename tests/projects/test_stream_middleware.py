"""The stream's hot path in middleware answers as the view does, and only what it can."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from projects.models import Item
from projects.stream import api as api_stream
from projects.stream.middleware import PATH
from tests.projects.test_stream import PETS, make_project, post, train_now

pytestmark = pytest.mark.django_db

WITHOUT = [m for m in settings.MIDDLEWARE if not m.endswith("StreamFastPathMiddleware")]
SERVER_HEADERS = {"date", "server"}


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"


def test_the_path_is_the_stream_route() -> None:
    url = reverse("api-stream", kwargs={"project_id": 42})
    assert PATH.fullmatch(url) and resolve(url).url_name == "api-stream"
    assert not PATH.fullmatch("/api/projects/42/stream/x") and not PATH.fullmatch(url[:-1])


def test_a_token_json_post_is_answered_without_the_view(api, monkeypatch):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=0.5)
    train_now(api, project)

    def no_view(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the view was called")

    monkeypatch.setattr(api_stream.StreamView, "post", no_view)
    response = post(api, project, text="a cat naps")
    assert response.status_code == 200, response.content
    assert Item.objects.get(pk=response.json()["item"]).text == "a cat naps"


def test_fast_and_view_answers_agree(api, users):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=0.5)
    train_now(api, project)
    fast = post(api, project, text=PETS[0])
    with override_settings(MIDDLEWARE=WITHOUT):
        view = post(api, project, text=PETS[0])
    assert fast.status_code == view.status_code == 200
    a, b = fast.json(), view.json()
    assert a.keys() == b.keys() and a["item"] != b["item"]
    assert (a["prediction"], a["model_version"]) == (b["prediction"], b["model_version"])
    assert a["score"] == pytest.approx(b["score"], abs=1e-6)  # the compiled model, or sklearn
    assert (
        dict(fast.headers.items()).keys() - SERVER_HEADERS
        == dict(view.headers.items()).keys() - SERVER_HEADERS
    )
    for name in ("Content-Type", "X-Frame-Options", "X-Content-Type-Options", "Allow", "Vary"):
        assert fast.headers[name] == view.headers[name]


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("ann1", {"text": ""}, 400),  # bad input
        ("ann1", [1, 2], 400),  # not an object
        ("reviewer", {"text": "a cat"}, 403),  # a member without the role
        ("outsider", {"text": "a cat"}, 404),  # not a member
    ],
)
def test_refusals_are_the_views(api, make_user, who, body, status):  # type: ignore[no-untyped-def]
    from rest_framework.authtoken.models import Token

    project = make_project(api)
    if who == "outsider":
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_user('o')).key}"
        )
    else:
        client = api[who]
    url = f"/api/projects/{project.pk}/stream/"
    fast = client.post(url, body, format="json")
    with override_settings(MIDDLEWARE=WITHOUT):
        view = client.post(url, body, format="json")
    assert fast.status_code == view.status_code == status, fast.content
    assert fast.json() == view.json()
    assert not Item.objects.filter(project=project).exists()


def test_a_bad_token_is_refused_as_the_view_refuses_it(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    response = client.post(f"/api/projects/{project.pk}/stream/", {"text": "x"}, format="json")
    assert response.status_code == 401 and "Invalid token" in response.json()["detail"]


def test_a_session_post_goes_to_the_view(api, users):  # type: ignore[no-untyped-def]
    project = make_project(api)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["ann1"])
    response = client.post(f"/api/projects/{project.pk}/stream/", {"text": "x"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
