"""Label names that span formats cannot carry (`O`, whitespace, a `B-`/`I-` prefix,
empty) are refused on span projects with a 400 naming the label: at create, at label
edits (API and settings page) and in imports; other projects keep them."""

from __future__ import annotations

import json

import pytest

from projects.models import Item, Project
from strategies.spans.formats import span_label_problem
from tests.spans.helpers import LABELS, TEXT, create, span, span_project, upload

pytestmark = pytest.mark.django_db

CLASHING = ["O", "New York", "B-PER", "i-loc", "Tab\there"]


@pytest.mark.parametrize("name", [*CLASHING, "", " "])
def test_span_label_problem_names_the_label(name: str) -> None:
    problem = span_label_problem(name)
    assert problem
    if name.strip():
        assert repr(name) in problem


@pytest.mark.parametrize("name", ["PER", "Org", "OB", "o", "BIO", "B_PER", "Bo-x", "E-x"])
def test_ordinary_names_are_span_labels(name: str) -> None:
    assert span_label_problem(name) == ""


@pytest.mark.parametrize("name", CLASHING)
def test_create_refuses_a_clashing_label_and_names_it(api, name):  # type: ignore[no-untyped-def]
    response = create(api, labels=["PER", name])
    assert response.status_code == 400, response.content
    assert repr(name) in response.json()["labels"][0]
    assert not Project.objects.exists()


def test_create_refuses_an_empty_label(api):  # type: ignore[no-untyped-def]
    response = create(api, labels=["PER", ""])
    assert response.status_code == 400
    assert "labels" in response.json()


def test_the_same_names_are_fine_on_classification_projects(api):  # type: ignore[no-untyped-def]
    body = {"name": "c", "kind": "text", "labels": ["O", "B-PER", "New York"]}
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content


def test_label_edits_refuse_a_clashing_name_and_keep_the_labels(api):  # type: ignore[no-untyped-def]
    project = span_project(api)
    url = f"/api/projects/{project.pk}/"
    response = api["lead"].patch(url, {"labels": [*LABELS, "B-MISC"]}, format="json")
    assert response.status_code == 400
    assert "'B-MISC'" in response.json()["labels"][0]
    assert api["lead"].patch(url, {"labels": [*LABELS, "MISC"]}, format="json").status_code == 200
    project.refresh_from_db()
    assert project.labels == [*LABELS, "MISC"]


def test_the_settings_page_refuses_a_clashing_label(client, users, api):  # type: ignore[no-untyped-def]
    project = span_project(api)
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/settings/")
    form = page.context["form"]
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, list | dict)
    }
    data["labels"] = "\n".join([*LABELS, "O"])
    response = client.post(f"/projects/{project.pk}/settings/", data)
    assert response.status_code == 200
    assert "&#x27;O&#x27; is the outside tag" in response.content.decode()
    project.refresh_from_db()
    assert project.labels == LABELS


def test_the_create_page_refuses_a_clashing_label(client, users):  # type: ignore[no-untyped-def]
    client.force_login(users["lead"])
    data = {"name": "NER", "kind": "text", "task": "spans", "labels": "PER\nI-PER"}
    response = client.post("/projects/new/", data)
    assert response.status_code == 200
    assert "&#x27;I-PER&#x27; starts with" in response.content.decode()
    assert not Project.objects.exists()


def test_imports_name_a_clashing_span_label(api):  # type: ignore[no-untyped-def]
    project = span_project(api)
    rows = [
        {"text": TEXT, "spans": [span(0, 5, "PER")]},
        {"text": TEXT, "spans": [span(0, 5, "O")]},
        {"text": TEXT, "spans": [span(0, 5, "B-PER")]},
    ]
    response = upload(api, project, "pool.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert response.status_code == 201, response.content
    errors = {e["line"]: e["error"] for e in response.json()["errors"]}
    assert "'O' is the outside tag" in errors[2]
    assert "'B-PER' starts with 'B-'" in errors[3]
    assert Item.objects.filter(project=project).count() == 1


def test_a_conll_import_whose_tags_bring_a_clashing_label_is_refused(api):  # type: ignore[no-untyped-def]
    project = span_project(api)
    response = upload(api, project, "train.conll", "Alice B-B-PER\nmet O\n")
    assert response.status_code == 400, response.content
    assert "'B-PER' starts with 'B-'" in json.dumps(response.json())
    assert not Item.objects.filter(project=project).exists()
