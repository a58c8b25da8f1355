"""Exports of multi-label projects (JSONL, CSV, Label Studio) and Label Studio imports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.ingest import labelstudio
from projects.models import Item, Project

pytestmark = pytest.mark.django_db

LABELS = ["sports", "politics", "tech"]
POOL = [
    {"text": "match report", "labels": ["sports"]},
    {"text": "election and chips", "labels": ["politics", "tech"]},
    {"text": "nothing fits", "labels": []},
    {"text": "not labelled yet"},
]


def _project(api, task: str = "multilabel", **extra: object) -> Project:  # type: ignore[no-untyped-def]
    body = {"name": "Tags", "kind": "text", "labels": LABELS, "task": task, **extra}
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    return Project.objects.get(pk=response.json()["id"])


def _upload(api, project: Project, name: str, rows: str):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile(name, rows.encode())
    return api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": upload})


def _export(api, project: Project, fmt: str) -> str:  # type: ignore[no-untyped-def]
    response = api["lead"].get(f"/api/projects/{project.pk}/export/?format={fmt}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def seeded(api) -> Project:  # type: ignore[no-untyped-def]
    project = _project(api, allow_empty_set=True)
    rows = "".join(json.dumps(row) + "\n" for row in POOL)
    response = _upload(api, project, "pool.jsonl", rows)
    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["seeded"]) == (4, 3)
    return project


def test_jsonl_import_seeds_sets_in_the_projects_order(seeded: Project) -> None:
    items = Item.objects.filter(project=seeded).order_by("id")
    assert [i.labels for i in items] == [["sports"], ["politics", "tech"], [], None]
    assert [i.state for i in items] == ["labeled", "labeled", "labeled", "pool"]


def test_jsonl_export_carries_labels(api, seeded: Project) -> None:  # type: ignore[no-untyped-def]
    lines = [json.loads(line) for line in _export(api, seeded, "jsonl").splitlines()]
    assert [line["labels"] for line in lines] == [["sports"], ["politics", "tech"], [], None]
    assert all(line["label"] is None for line in lines)


def test_csv_export_has_one_0_1_column_per_label(api, seeded: Project) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(_export(api, seeded, "csv"))))
    assert list(rows[0])[:6] == ["id", "text", "label", "sports", "politics", "tech"]
    assert [(r["sports"], r["politics"], r["tech"]) for r in rows] == [
        ("1", "0", "0"), ("0", "1", "1"), ("0", "0", "0"), ("", "", ""),
    ]  # fmt: skip


def test_labelstudio_export_uses_multiple_choices_and_imports_back(api, seeded: Project) -> None:  # type: ignore[no-untyped-def]
    tasks = json.loads(_export(api, seeded, "labelstudio"))
    assert [t["data"]["text"] for t in tasks] == [row["text"] for row in POOL]
    truth = [a for a in tasks[1]["annotations"] if a["ground_truth"]]
    assert truth[0]["result"][0]["value"]["choices"] == ["politics", "tech"]
    assert truth[0]["result"][0]["type"] == "choices"
    assert tasks[3]["annotations"] == []
    config = labelstudio.labeling_config(kind="text", labels=LABELS, multilabel=True)
    assert 'choice="multiple"' in config and '<Choice value="tech"/>' in config

    again = _project(api, allow_empty_set=True)
    response = _upload(api, again, "export.json", json.dumps(tasks))
    assert response.status_code == 201, response.content
    assert response.json()["seeded"] == 3
    copied = Item.objects.filter(project=again).order_by("id")
    assert [i.labels for i in copied] == [["sports"], ["politics", "tech"], [], None]


def test_labelstudio_predictions_are_the_models_answers_never_labels(api, seeded: Project) -> None:  # type: ignore[no-untyped-def]
    Item.objects.filter(project=seeded, text="not labelled yet").update(predicted_labels=["tech"])
    Item.objects.filter(project=seeded, text="match report").update(predicted_labels=[])
    tasks = json.loads(_export(api, seeded, "labelstudio"))
    result = tasks[3]["predictions"][0]["result"]
    assert tasks[3]["predictions"][0]["model_version"] == "winnow"
    assert [(r["value"]["choices"], r["origin"]) for r in result] == [(["tech"], "prediction")]
    assert tasks[0]["predictions"] == [{"model_version": "winnow", "result": []}]
    assert tasks[1]["predictions"] == []  # no prediction stored
    again = _project(api, allow_empty_set=True)
    assert _upload(api, again, "export.json", json.dumps(tasks)).json()["seeded"] == 3
    assert Item.objects.get(project=again, text="not labelled yet").labels is None

    single = _project(api, task="single")
    assert _upload(api, single, "p.jsonl", '{"text": "a goal"}\n').status_code == 201
    Item.objects.filter(project=single).update(prediction=2)
    (task,) = json.loads(_export(api, single, "labelstudio"))
    assert task["predictions"][0]["result"][0]["value"]["choices"] == ["tech"]


def test_a_single_label_project_round_trips_through_labelstudio(api) -> None:  # type: ignore[no-untyped-def]
    project = _project(api, task="single")
    rows = '{"text": "a goal", "label": "sports"}\n{"text": "no label"}\n'
    assert _upload(api, project, "pool.jsonl", rows).status_code == 201
    tasks = json.loads(_export(api, project, "labelstudio"))
    assert tasks[0]["annotations"][0]["result"][0]["value"]["choices"] == ["sports"]
    again = _project(api, task="single")
    assert _upload(api, again, "ls.json", json.dumps(tasks)).json()["seeded"] == 1
    assert list(Item.objects.filter(project=again).values_list("label", flat=True)) == [
        "sports",
        None,
    ]


def test_labelstudio_annotators_who_disagree_give_no_seed(api) -> None:  # type: ignore[no-untyped-def]
    project = _project(api, task="single")

    def said(choice: str) -> dict[str, object]:
        result = [{"type": "choices", "from_name": "x", "to_name": "text",
                   "value": {"choices": [choice]}}]  # fmt: skip
        return {"result": result, "was_cancelled": False}

    tasks = [
        {"id": 7, "data": {"text": "agree"}, "annotations": [said("tech"), said("tech")]},
        {"id": 8, "data": {"text": "split"}, "annotations": [said("tech"), said("sports")]},
        {"id": 9, "data": {"text": "bad"}, "annotations": [said("weather")]},
    ]
    body = _upload(api, project, "ls.json", json.dumps(tasks)).json()
    assert (body["created"], body["seeded"]) == (2, 1)
    assert body["errors"][0]["line"] == 3 and "unknown label" in body["errors"][0]["error"]
    items = Item.objects.filter(project=project).order_by("id")
    assert [(i.label, i.meta["labelstudio_id"]) for i in items] == [("tech", 7), (None, 8)]


def test_a_labelstudio_file_that_is_not_an_array_of_tasks_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    project = _project(api)
    response = _upload(api, project, "ls.json", "[1, 2")
    assert response.status_code == 400
