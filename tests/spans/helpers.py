"""Shared steps of the span-project tests: a project with members, an import, next/."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Annotation, Item, Project

LABELS = ["PER", "LOC", "ORG"]
TEXT = "Alice met Bob in Paris"  # Alice 0-5, met 6-9, Bob 10-13, in 14-16, Paris 17-22


def create(api: Any, **extra: object) -> Any:
    body = {"name": "NER", "kind": "text", "labels": LABELS, "task": "spans", **extra}
    return api["lead"].post("/api/projects/", body, format="json")


def span_project(api: Any, **extra: object) -> Project:
    response = create(api, **extra)
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    for name, role in (("ann1", "annotator"), ("ann2", "annotator"), ("reviewer", "reviewer")):
        added = api["lead"].post(
            f"/api/projects/{pid}/members/", {"username": name, "role": role}, format="json"
        )
        assert added.status_code == 201, added.content
    return Project.objects.get(pk=pid)


def upload(api: Any, project: Project, name: str, content: str, who: str = "lead") -> Any:
    file = SimpleUploadedFile(name, content.encode())
    return api[who].post(f"/api/projects/{project.pk}/import/", {"file": file})


def next_item(api: Any, who: str, project: Project) -> dict[str, Any]:
    response = api[who].get(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 200, response.content
    return dict(response.json())


def span(start: int, end: int, label: str) -> dict[str, Any]:
    return {"start": start, "end": end, "label": label}


Answer = tuple[Any, list[dict[str, Any]], int]


def annotated(project: Project, text: str, answers: list[Answer]) -> Item:
    """An item of the open batch with every required annotation: (user, spans, confidence)."""
    item = Item.objects.create(
        project=project, text=text, state="queued", required=len(answers),
        annotation_count=len(answers), assigned=len(answers),
    )  # fmt: skip
    Annotation.objects.bulk_create(
        Annotation(project=project, item=item, annotator=user, label="", spans=spans, confidence=c)
        for user, spans, c in answers
    )
    return item
