"""Hostile JSON gets a clear 400 and writes nothing, on SQLite and PostgreSQL alike:
nesting deep enough to exhaust the parser, NUL characters (PostgreSQL cannot store
them in text), numbers too large for a float, and digits int() refuses."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.ingest.zips import read_jsonl_manifest
from projects.models import Item, Project

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def pid(api, users):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/", {"name": "Hostile", "kind": "vector", "labels": ["a", "b"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _post_raw(client, url: str, body: str):  # type: ignore[no-untyped-def]
    return client.generic("POST", url, body.encode(), content_type="application/json")


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        '{"name": "nul\\u0000name", "kind": "text", "labels": ["a"]}',
        '{"name": "ok", "kind": "text", "labels": ["a\\u0000"]}',
        '{"name": "big", "kind": "text", "labels": ["a"], "batch_size": 1e999}',
        '{"name": "nul key", "kind": "text", "labels": ["a"], "\\u0000": 1}',
    ],
    ids=["deep", "nul-in-name", "nul-in-label", "float-overflow", "nul-in-key"],
)
def test_hostile_json_bodies_get_400_and_create_nothing(api, body):  # type: ignore[no-untyped-def]
    response = _post_raw(api["lead"], "/api/projects/", body)
    assert response.status_code == 400, response.content
    assert "detail" in response.json()
    assert not Project.objects.exists()


def test_hostile_annotation_body_gets_400(api, pid):  # type: ignore[no-untyped-def]
    body = '{"item": 1, "label": "a", "confidence": 1e999}'
    assert _post_raw(api["lead"], f"/api/projects/{pid}/annotations/", body).status_code == 400
    assert _post_raw(api["lead"], f"/api/projects/{pid}/annotations/", DEEP).status_code == 400


def _import(api, pid: int, text: str):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("pool.jsonl", text.encode())
    return api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload})


def test_hostile_jsonl_lines_are_reported_by_line_and_the_good_ones_kept(api, pid):  # type: ignore[no-untyped-def]
    lines = [
        json.dumps({"features": [1.0, 2.0]}),
        DEEP,
        '{"features": [1.0, 2.0], "text": "a\\u0000b"}',
        '{"features": [1e999, 2.0]}',
        '{"features": [1' + "0" * 400 + ", 2.0]}",
        '{"features": [3.0, 4.0], "meta": {"k\\u0000": 1}}',
        json.dumps({"features": [5.0, 6.0]}),
    ]
    response = _import(api, pid, "\n".join(lines) + "\n")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 2
    assert [e["line"] for e in body["errors"]] == [2, 3, 4, 5, 6]
    assert Item.objects.filter(project_id=pid).count() == 2


def test_review_limit_that_only_looks_like_digits_is_ignored(api, pid):  # type: ignore[no-untyped-def]
    for limit in ("²", "٣", "5"):
        response = api["lead"].get(f"/api/projects/{pid}/review/", {"limit": limit})
        assert response.status_code == 200, limit


def test_manifest_lines_nested_too_deeply_or_with_nul_are_line_errors() -> None:
    result = read_jsonl_manifest([DEEP, '{"path": "a\\u0000.png"}'], [])
    assert [e["line"] for e in result.errors] == [1, 2]
    assert "JSON" in result.errors[0]["error"]
