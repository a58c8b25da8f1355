"""Helpers for annotation-quality tests: projects with several annotators, driven over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from projects.models import Project

LABELS = ["pets", "finance", "sport"]
WORDS = {
    "pets": "the cat sat on the mat and purred",
    "finance": "stocks fell sharply as rates rose",
    "sport": "the striker scored in extra time",
}


def text_pool(n: int) -> tuple[str, dict[str, str]]:
    """A CSV pool of `n` texts and each text's true label."""
    truth = {f"{WORDS[LABELS[i % 3]]} number {i}": LABELS[i % 3] for i in range(n)}
    body = "text\n" + "".join(f"{text}\n" for text in truth)
    return body, truth


@pytest.fixture
def client_for(make_user) -> Callable[[str], APIClient]:  # type: ignore[no-untyped-def]
    """A token-authenticated API client for a new user called `name`."""

    def make(name: str) -> APIClient:
        user = make_user(name)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


def text_project(
    api: dict[str, APIClient], members: dict[str, str], *, n: int = 12, **settings: Any
) -> Project:
    """Create a project as `lead` over HTTP, add members and import `n` texts."""
    body = {"name": "Quality", "kind": "text", "labels": LABELS, **settings}
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    for username, role in members.items():
        added = api["lead"].post(
            f"/api/projects/{pid}/members/",
            {"username": username, "role": role},
            format="json",
        )
        assert added.status_code == 201, added.content
    if n:
        csv, _ = text_pool(n)
        upload = SimpleUploadedFile("pool.csv", csv.encode())
        imported = api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload})
        assert imported.status_code == 201, imported.content
    return Project.objects.get(pk=pid)


@pytest.fixture
def new_project(api) -> Callable[..., Project]:  # type: ignore[no-untyped-def]
    """`text_project` with the test's API clients."""

    def make(members: dict[str, str], *, n: int = 12, **settings: Any) -> Project:
        return text_project(api, members, n=n, **settings)

    return make


def label_next(
    client: APIClient,
    project_id: int,
    answer: Callable[[dict[str, Any]], str],
    confidence: int = 3,
) -> dict[str, Any] | None:
    """Ask for the next item and label it with `answer(item)`; None when nothing is handed out."""
    response = client.get(f"/api/projects/{project_id}/next/")
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.content
    item = response.json()["item"]
    posted = client.post(
        f"/api/projects/{project_id}/annotations/",
        {"item": item["id"], "label": answer(item), "confidence": confidence},
        format="json",
    )
    assert posted.status_code == 201, posted.content
    return dict(item)


def truth_of(item: dict[str, Any]) -> str:
    return next(label for label, words in WORDS.items() if item["text"].startswith(words))
