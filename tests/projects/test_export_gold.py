"""Gold items in every export (PRODUCT.md §7, §10): JSONL carries the gold answer
(`gold_label`, `gold_labels`, `gold_spans`), CSV ends with `gold:<label>` columns
(`gold:spans` on span projects), Label Studio's JSON makes the gold answer the
ground-truth annotation and names it in `meta.winnow.gold`; importing that file brings
the gold items back as gold, for every task kind."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Item, Project

pytestmark = pytest.mark.django_db

LABELS = ["PER", "LOC", "ORG"]
TEXTS = ["Alice met Bob in Paris", "Bob works at Acme", "nobody here", "Rome is far"]
# Each task's gold answers for the first two items, and the JSONL field holding them.
GOLD = {
    "single": ("label", "gold_label", ["PER", "ORG"]),
    "multilabel": ("labels", "gold_labels", [["PER", "LOC"], []]),
    "spans": (
        "spans",
        "gold_spans",
        [
            [{"start": 0, "end": 5, "label": "PER"}, {"start": 17, "end": 22, "label": "LOC"}],
            [{"start": 13, "end": 17, "label": "ORG"}],
        ],
    ),
}


def new_project(api: Any, task: str, name: str = "Gold") -> Project:
    body: dict[str, Any] = {"name": name, "kind": "text", "labels": LABELS, "task": task}
    if task == "multilabel":
        body["allow_empty_set"] = True
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    return Project.objects.get(pk=response.json()["id"])


def project_with_gold(api: Any, task: str) -> Project:
    project = new_project(api, task)
    seed = {"label": "LOC"} if task == "single" else {"labels": ["LOC"]}
    if task == "spans":
        seed = {"spans": [{"start": 0, "end": 4, "label": "LOC"}]}
    lines = [{"text": t} for t in TEXTS[:3]] + [{"text": TEXTS[3], **seed}]
    imported = upload(api, project, "pool.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    assert imported.json()["created"] == 4
    key, _, answers = GOLD[task]
    first, second = Item.objects.filter(project=project).order_by("id")[:2]
    entries = [{"item": first.pk, key: answers[0]}, {"item": second.pk, key: answers[1]}]
    marked = api["lead"].post(
        f"/api/projects/{project.pk}/gold/", {"items": entries}, format="json"
    )
    assert marked.status_code == 200 and marked.json()["updated"] == 2, marked.content
    return project


def upload(api: Any, project: Project, name: str, content: str) -> Any:
    file = SimpleUploadedFile(name, content.encode())
    response = api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": file})
    assert response.status_code == 201, response.content
    return response


def export(api: Any, project: Project, fmt: str) -> str:
    response = api["lead"].get(f"/api/projects/{project.pk}/export/?format={fmt}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("task", ["single", "multilabel", "spans"])
def test_jsonl_carries_the_gold_answer_of_gold_items_only(api, task: str) -> None:  # type: ignore[no-untyped-def]
    project = project_with_gold(api, task)
    _, field, answers = GOLD[task]
    lines = [json.loads(line) for line in export(api, project, "jsonl").splitlines()]
    assert [line[field] for line in lines] == [*answers, None, None]
    if task != "single":  # and the latest model's answer beside it (no model yet)
        predicted = "predicted_spans" if task == "spans" else "predicted_labels"
        assert [line[predicted] for line in lines] == [None] * 4


@pytest.mark.parametrize("task", ["single", "multilabel"])
def test_csv_ends_with_one_gold_column_per_label(api, task: str) -> None:  # type: ignore[no-untyped-def]
    project = project_with_gold(api, task)
    text = export(api, project, "csv")
    header = next(csv.reader(io.StringIO(text)))
    assert header[-3:] == ["gold:PER", "gold:LOC", "gold:ORG"]
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = [[row[f"gold:{label}"] for label in LABELS] for row in rows]
    if task == "single":
        assert cells == [["1", "0", "0"], ["0", "0", "1"], ["", "", ""], ["", "", ""]]
    else:
        assert cells == [["1", "1", "0"], ["0", "0", "0"], ["", "", ""], ["", "", ""]]


def test_csv_of_a_span_project_ends_with_the_gold_spans(api) -> None:  # type: ignore[no-untyped-def]
    project = project_with_gold(api, "spans")
    rows = list(csv.DictReader(io.StringIO(export(api, project, "csv"))))
    assert list(rows[0])[-1] == "gold:spans"
    found = [json.loads(row["gold:spans"]) if row["gold:spans"] else None for row in rows]
    assert found == [*GOLD["spans"][2], None, None]


@pytest.mark.parametrize("task", ["single", "multilabel", "spans"])
def test_labelstudio_marks_gold_and_its_import_brings_gold_back(api, task: str) -> None:  # type: ignore[no-untyped-def]
    project = project_with_gold(api, task)
    _, field, answers = GOLD[task]
    tasks = json.loads(export(api, project, "labelstudio"))
    assert [t["meta"]["winnow"].get("gold") for t in tasks] == [*answers, None, None]
    truth = [a for a in tasks[0]["annotations"] if a["ground_truth"]]
    assert len(truth) == 1  # the gold answer is the task's ground truth
    if task == "spans":
        assert [r["value"]["labels"] for r in truth[0]["result"]] == [["PER"], ["LOC"]]
    else:
        chosen = truth[0]["result"][0]["value"]["choices"]
        assert chosen == ([answers[0]] if task == "single" else answers[0])
    assert "gold" not in tasks[2]["meta"]["winnow"]

    again = new_project(api, task, "Back")
    imported = upload(api, again, "export.json", json.dumps(tasks))
    assert imported.json()["created"] == 4 and imported.json()["errors"] == []
    items = list(Item.objects.filter(project=again).order_by("id"))
    assert [getattr(i, field) for i in items] == [*answers, None, None]
    assert [i.state for i in items] == ["gold", "gold", "pool", "labeled"]
    assert all("gold" not in i.meta.get("winnow", {}) for i in items)
    listed = api["lead"].get(f"/api/projects/{again.pk}/gold/")
    assert listed.status_code == 200 and len(listed.json()) == 2, listed.content


def test_a_labelstudio_gold_answer_is_checked_like_a_seed(api) -> None:  # type: ignore[no-untyped-def]
    project = project_with_gold(api, "single")
    tasks = json.loads(export(api, project, "labelstudio"))
    tasks[0]["meta"]["winnow"]["gold"] = "NOPE"
    again = new_project(api, "single", "Back")
    response = api["lead"].post(
        f"/api/projects/{again.pk}/import/",
        {"file": SimpleUploadedFile("export.json", json.dumps(tasks).encode())},
    )
    assert [e["line"] for e in response.json()["errors"]] == [1]
    assert "unknown label 'NOPE'" in response.json()["errors"][0]["error"]
