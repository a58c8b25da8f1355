"""Multi-label seed sets through the import: CSV `labels` cells (names separated by `|`),
and an empty seed set refused as a line error while the project does not allow one."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.ingest.parsers import csv_label_set
from projects.models import Item, Project

pytestmark = pytest.mark.django_db

LABELS = ["sports", "politics", "tech"]


def _project(api, **extra: object) -> Project:  # type: ignore[no-untyped-def]
    body = {"name": "Tags", "kind": "text", "labels": LABELS, "task": "multilabel", **extra}
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    return Project.objects.get(pk=response.json()["id"])


def _upload(api, project: Project, name: str, rows: str):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile(name, rows.encode())
    return api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": upload})


def test_a_csv_cell_splits_on_the_bar_and_an_empty_cell_is_no_set() -> None:
    assert csv_label_set("tech| sports ") == ["tech", "sports"]
    assert csv_label_set("  ") is None
    assert csv_label_set("tech;sports") == ["tech;sports"]  # one (unknown) name


def test_csv_labels_column_seeds_sets_in_the_projects_order(api) -> None:  # type: ignore[no-untyped-def]
    project = _project(api)
    rows = (
        "text,labels\n"
        "chips and votes,tech|politics\n"
        "a goal,sports\n"
        "not labelled yet,\n"
        "bad name,tech|weather\n"
    )
    response = _upload(api, project, "pool.csv", rows)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["seeded"], body["skipped"]) == (3, 2, 1)
    assert (
        body["errors"][0]["line"] == 5
        and "unknown labels ['weather']" in body["errors"][0]["error"]
    )
    items = Item.objects.filter(project=project).order_by("id")
    assert [i.labels for i in items] == [["politics", "tech"], ["sports"], None]
    assert [i.state for i in items] == ["labeled", "labeled", "pool"]


def test_a_csv_label_column_is_refused_per_line_on_a_multilabel_project(api) -> None:  # type: ignore[no-untyped-def]
    project = _project(api)
    body = _upload(api, project, "pool.csv", "text,label\na goal,sports\nplain,\n").json()
    assert (body["created"], body["skipped"]) == (1, 1)
    assert body["errors"][0]["line"] == 2 and '"labels"' in body["errors"][0]["error"]


def test_an_empty_seed_set_is_a_line_error_unless_the_project_allows_it(api) -> None:  # type: ignore[no-untyped-def]
    rows = json.dumps({"text": "none fits", "labels": []}) + "\n" + '{"text": "ok"}\n'
    strict = _project(api)
    body = _upload(api, strict, "pool.jsonl", rows).json()
    assert (body["created"], body["seeded"], body["skipped"]) == (1, 0, 1)
    assert body["errors"] == [
        {"line": 1, "error": "an empty set of labels: this project does not allow empty sets"}
    ]
    assert not Item.objects.filter(project=strict, labels=[]).exists()
    lenient = _project(api, allow_empty_set=True)
    body = _upload(api, lenient, "pool.jsonl", rows).json()
    assert (body["created"], body["seeded"], body["errors"]) == (2, 1, [])
    assert Item.objects.get(project=lenient, text="none fits").labels == []


def test_a_single_label_csv_with_an_empty_labels_column_still_imports(api) -> None:  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/", {"name": "One", "kind": "text", "labels": LABELS}, format="json"
    )
    project = Project.objects.get(pk=response.json()["id"])
    body = _upload(api, project, "pool.csv", "text,label,labels\na goal,sports,\nx,,tech\n").json()
    assert (body["created"], body["seeded"], body["skipped"]) == (1, 1, 1)
    assert '"label", not "labels"' in body["errors"][0]["error"]
