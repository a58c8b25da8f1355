"""Who may do what, for every URL the site has: routes × roles × methods.

The routes come from the URL conf itself, and every named route must be declared in
ROUTES with the roles each method admits; a new URL missing from the table fails
`test_every_route_is_declared`, so it cannot be forgotten. Each cell then asserts the
class of answer: anonymous callers are sent to the login page (pages) or refused with
401/403 (API); outsiders get 404 for anything under a project; members whose role is
too low get 403; the others get through. GETs must leave every table's row count as it
was, and every HTML page must carry the Content-Security-Policy with no inline script
or style.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from projects import artifacts, services
from projects.models import Annotation, ImportJob, Item, ModelVersion
from projects.training.services import model_name
from tests.access.html import inline_code

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "outsider", "annotator", "reviewer", "lead", "staff")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

PUBLIC = frozenset(ROLES)
SIGNED_IN = PUBLIC - {"anonymous"}
MEMBERS = frozenset({"annotator", "reviewer", "lead", "staff"})
REVIEWERS = frozenset({"reviewer", "lead", "staff"})
LEADS = frozenset({"lead", "staff"})
STREAM = frozenset({"annotator", "lead", "staff"})  # projects.access.STREAM_ROLES


@dataclass(frozen=True)
class Route:
    """Which roles each accepted method admits; any other method is refused."""

    allowed: dict[str, frozenset[str]]
    # A GET that hands out work by contract (PRODUCT.md §10: GET .../next/ assigns).
    writes_on_get: bool = False
    # Swagger UI's page keeps a <style> block under its documented, narrower policy.
    inline_style: bool = False


ROUTES: dict[str, Route] = {
    # The frame
    "login": Route({"GET": PUBLIC, "POST": PUBLIC}),
    "logout": Route({"POST": PUBLIC}),
    "api-schema": Route({"GET": PUBLIC}),
    "api-docs": Route({"GET": PUBLIC}, inline_style=True),
    "api-token": Route({"POST": PUBLIC}),
    # Project pages
    "home": Route({"GET": SIGNED_IN}),
    "project-create": Route({"GET": SIGNED_IN, "POST": SIGNED_IN}),
    "project-dashboard": Route({"GET": MEMBERS}),
    "project-selections": Route({"GET": MEMBERS}),
    "project-settings": Route({"GET": LEADS, "POST": LEADS}),
    "project-guidelines": Route({"GET": LEADS, "POST": LEADS}),
    "project-import": Route({"GET": LEADS, "POST": LEADS}),
    "project-import-preview": Route({"POST": LEADS}),
    "project-export": Route({"GET": LEADS}),
    "project-members": Route({"GET": MEMBERS, "POST": LEADS}),
    "project-member-remove": Route({"POST": LEADS}),
    "project-member-create": Route({"POST": LEADS}),
    "project-archive": Route({"POST": LEADS}),
    "project-unarchive": Route({"POST": LEADS}),
    "project-delete": Route({"GET": LEADS, "POST": LEADS}),
    "project-resume": Route({"POST": LEADS}),
    "project-retrain": Route({"POST": LEADS}),
    "import-job": Route({"GET": LEADS}),
    "project-replay": Route({"GET": LEADS, "POST": LEADS}),
    "project-replay-switch": Route({"POST": LEADS}),
    # Annotator pages
    "annotate": Route({"GET": MEMBERS, "POST": MEMBERS}),
    "annotate-label": Route({"POST": MEMBERS}),
    "annotate-skip": Route({"POST": MEMBERS}),
    "annotate-undo": Route({"POST": MEMBERS}),
    "annotate-history": Route({"GET": MEMBERS}),
    "annotate-history-change": Route({"POST": MEMBERS}),
    "quality-panel": Route({"GET": MEMBERS}),
    "review": Route({"GET": REVIEWERS}),
    "review-act": Route({"POST": REVIEWERS}),
    "project-items": Route({"GET": REVIEWERS}),
    "project-item": Route({"GET": REVIEWERS}),
    "project-item-label": Route({"POST": LEADS}),
    "project-items-bulk": Route({"POST": LEADS}),
    # Projects API
    "api-projects": Route({"GET": SIGNED_IN, "POST": SIGNED_IN}),
    "api-project": Route({"GET": MEMBERS, "PATCH": LEADS, "DELETE": LEADS}),
    "api-project-archive": Route({"POST": LEADS}),
    "api-project-unarchive": Route({"POST": LEADS}),
    "api-members": Route({"GET": MEMBERS, "POST": LEADS}),
    "api-member": Route({"DELETE": LEADS}),
    "api-import": Route({"POST": LEADS}),
    "api-status": Route({"GET": MEMBERS}),
    "api-export": Route({"GET": LEADS}),
    "api-resume": Route({"POST": LEADS}),
    "api-curve": Route({"GET": MEMBERS}),
    "api-replay": Route({"GET": LEADS, "POST": LEADS}),
    "api-model-download": Route({"GET": LEADS}),
    "api-items": Route({"GET": REVIEWERS}),
    "api-item-image": Route({"GET": MEMBERS}),
    "api-stream": Route({"POST": STREAM}),
    "api-stream-stats": Route({"GET": MEMBERS}),
    "api-import-job": Route({"GET": LEADS}),
    # Annotator API
    "api-next": Route({"GET": MEMBERS}, writes_on_get=True),
    "api-annotations": Route({"POST": MEMBERS}),
    "api-skip": Route({"POST": MEMBERS}),
    "api-undo": Route({"POST": MEMBERS}),
    "api-history": Route({"GET": MEMBERS}),
    "api-history-change": Route({"PATCH": MEMBERS}),
    "api-agreement": Route({"GET": REVIEWERS}),
    "api-annotator-stats": Route({"GET": MEMBERS}),
    "api-gold": Route({"GET": LEADS, "POST": LEADS}),
    "api-review": Route({"GET": REVIEWERS, "POST": REVIEWERS}),
    "api-items-bulk": Route({"POST": LEADS}),
    "api-item-label": Route({"POST": LEADS}),
}

# Rows a GET may write: the session of the login the test itself made, and axes' log of it.
UNCOUNTED = {"sessions.session", "axes.accesslog", "axes.accessattempt", "axes.accessfailurelog"}


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str | None, str]]:
    """(route, name, namespace) of every URL pattern, includes flattened."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # Django's own; test_admin_is_for_staff_only covers it
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name, ""


def site_routes() -> list[tuple[str, str | None]]:
    return [(route, name) for route, name, _ in _walk(get_resolver().url_patterns)]


def test_every_route_is_declared() -> None:
    found = site_routes()
    unnamed = [route for route, name in found if name is None]
    assert not unnamed, f"name these routes and declare them in ROUTES: {unnamed}"
    names = {name for _, name in found}
    assert names - set(ROUTES) == set(), "declare these new routes in ROUTES"
    assert set(ROUTES) - names == set(), "these declared routes no longer exist"


@pytest.fixture
def world(users, make_user, tmp_path, settings):  # type: ignore[no-untyped-def]
    """A project with one member of each role, an item with an image, a job and a model."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODELS_ROOT = tmp_path / "models"
    lead = users["lead"]
    project = services.project_create(user=lead, name="Matrix", kind="text", labels=["a", "b"])
    services.membership_add(project=project, username="ann1", role="annotator")
    services.membership_add(project=project, username="reviewer", role="reviewer")
    Item.objects.bulk_create(Item(project=project, text=f"text {i}") for i in range(6))
    image = Path(settings.MEDIA_ROOT) / f"project_{project.pk}" / "one.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    item = Item.objects.create(project=project, image=str(image.relative_to(settings.MEDIA_ROOT)))
    job = ImportJob.objects.create(project=project, created_by=lead, filename="x.zip")
    ModelVersion.objects.create(project=project, version=1, status=ModelVersion.Status.FAILED)
    # A model file as stored before representations were kept apart: handed out as is.
    stored = {"model": None, "labels": ["a"], "kind": "text", "representation": None}
    artifacts.artifact_save(model_name(project.pk, 1), pickle.dumps(stored))
    people = {
        "outsider": users["outsider"],
        "annotator": users["ann1"],
        "reviewer": users["reviewer"],
        "lead": lead,
        "staff": make_user("admin", staff=True),
    }
    # Each caller's own label of the item, for the history routes.
    for person in people.values():
        if person != users["outsider"]:
            Annotation.objects.create(project=project, item=item, annotator=person, label="a")
    # The member routes name the last lead: admitted callers get through to the 409.
    kwargs = {
        "project_id": project.pk,
        "item_id": item.pk,
        "job_id": job.pk,
        "version": 1,
        "username": lead.username,
    }
    return people, kwargs


def _route(name: str) -> str:
    return next(route for route, found in site_routes() if found == name)


def _url(name: str, kwargs: dict[str, Any]) -> str:
    route = _route(name)
    needed = {k: v for k, v in kwargs.items() if f"<int:{k}>" in route or f"<str:{k}>" in route}
    return reverse(name, kwargs=needed)


def _counts() -> dict[str, int]:
    return {
        model._meta.label_lower: model.objects.count()
        for model in apps.get_models()
        if model._meta.label_lower not in UNCOUNTED
    }


def _client(people: dict[str, Any], role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(people[role])
    return client


def _to_login(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/?next=")


DENIED = {401, 403, 404, 405}


def _expect_allowed(response: Any, cell: str) -> None:
    assert response.status_code < 500, cell
    assert response.status_code not in DENIED and not _to_login(response), cell


def _expect_denied(response: Any, cell: str, *, role: str, api: bool, in_project: bool) -> None:
    code = response.status_code
    if role == "anonymous":
        assert code in (401, 403) if api else _to_login(response), f"{cell}: {code}"
    elif role == "outsider" and in_project:
        assert code == 404, f"{cell}: {code}"
    else:
        assert code == 403, f"{cell}: {code}"


def _check_html(response: Any, route: Route, cell: str) -> None:
    assert "Content-Security-Policy" in response, cell
    if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
        return
    found = inline_code(response.content.decode())
    if route.inline_style:
        found = [f for f in found if not f.startswith(("<style", "style="))]
    assert not found, f"{cell}: inline code {found}"


def _request(client: Client, method: str, url: str, item: int) -> Any:
    """GET as is; a POST names an item of the project (so a view refusing it says why,
    not 404); other methods send an empty JSON object."""
    send = getattr(client, method.lower())
    if method == "GET":
        return send(url)
    if method == "POST":
        return send(url, {"item": item})
    return send(url, data="{}", content_type="application/json")


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_access_matrix(name: str, world: Any) -> None:
    people, kwargs = world
    route = ROUTES[name]
    url = _url(name, kwargs)
    api, in_project = url.startswith("/api/"), "<int:project_id>" in _route(name)
    for method in METHODS:
        admitted = route.allowed.get(method)
        for role in ROLES:
            cell = f"{method} {url} as {role}"
            before = _counts() if method == "GET" else None
            response = _request(_client(people, role), method, url, kwargs["item_id"])
            if admitted is None:
                assert response.status_code in DENIED or _to_login(response), cell
                if role == "staff":
                    assert response.status_code == 405, cell
            elif role in admitted:
                _expect_allowed(response, cell)
            else:
                _expect_denied(response, cell, role=role, api=api, in_project=in_project)
            if method == "GET" and not route.writes_on_get:
                assert _counts() == before, f"{cell} wrote rows"
            if method == "GET" and admitted and role in admitted:
                _check_html(response, route, cell)


def test_admin_is_for_staff_only(world: Any) -> None:
    people, _ = world
    for role in ("anonymous", "outsider", "lead"):
        response = _client(people, role).get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"], role
    assert _client(people, "staff").get("/admin/").status_code == 200
