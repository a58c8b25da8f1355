"""The export's optional filters, and annotations as JSON in both formats (issue 16).

Without parameters the export is the §10 contract: every item, `id,text,label` first.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from projects.models import Annotation, Item, ModelVersion, Project
from tests.annotator.conftest import text_project

pytestmark = pytest.mark.django_db
METRICS = {"n": 12} | {
    f"{name}{end}": value
    for name in ("accuracy", "macro_f1")
    for end, value in (("", 0.5), ("_low", 0.3), ("_high", 0.7))
}


@pytest.fixture
def project(api: dict[str, APIClient]) -> Project:
    project = text_project(api, {"ann1": "annotator"}, n=9, name="Export", batch_size=3)
    items = list(Item.objects.filter(project=project).order_by("id"))
    Item.objects.filter(pk=items[0].pk).update(label="pets", state=Item.State.LABELED)
    Item.objects.filter(pk=items[1].pk).update(label="sport", state=Item.State.LABELED)
    Item.objects.filter(pk=items[2].pk).update(state=Item.State.REVIEW)
    ann1 = get_user_model().objects.get(username="ann1")
    Annotation.objects.create(project=project, item=items[0], annotator=ann1, label="pets")
    return project


def _get(client: APIClient, project: Project, query: str = "") -> Any:
    return client.get(f"/api/projects/{project.pk}/export/{query}")


def _jsonl(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.content
    return [json.loads(line) for line in b"".join(answer.streaming_content).decode().splitlines()]


def _csv(answer: Any) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.content
    return list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))


def test_without_parameters_every_item_is_exported(api, project) -> None:  # type: ignore[no-untyped-def]
    assert len(_jsonl(_get(api["lead"], project))) == 9
    raw = b"".join(_get(api["lead"], project, "?format=csv").streaming_content).decode()
    assert raw.splitlines()[0].split(",")[:3] == ["id", "text", "label"]


def test_labelled_only_state_and_label_filters(api, project) -> None:  # type: ignore[no-untyped-def]
    lead = api["lead"]
    assert {r["label"] for r in _jsonl(_get(lead, project, "?items=labelled"))} == {"pets", "sport"}
    assert len(_jsonl(_get(lead, project, "?state=review"))) == 1
    assert [r["label"] for r in _jsonl(_get(lead, project, "?label=sport"))] == ["sport"]
    assert [
        r["label"] for r in _csv(_get(lead, project, "?format=csv&items=labelled&label=pets"))
    ] == ["pets"]


def test_csv_annotations_are_a_json_column(api, project) -> None:  # type: ignore[no-untyped-def]
    rows = _csv(_get(api["lead"], project, "?format=csv&label=pets"))
    (annotation,) = json.loads(rows[0]["annotations"])
    assert (annotation["annotator"], annotation["label"], annotation["confidence"]) == (
        "ann1", "pets", 3,
    )  # fmt: skip


@pytest.mark.parametrize(
    "query", ["?items=some", "?state=lost", "?label=astrology", "?label=" + "x" * 300]
)
def test_unknown_filter_values_are_a_400(api, project, query) -> None:  # type: ignore[no-untyped-def]
    answer = _get(api["lead"], project, query)
    assert answer.status_code == 400, answer.content


def test_models_table_and_dashboard_count_holdout_labels_alike(api, project) -> None:  # type: ignore[no-untyped-def]
    ModelVersion.objects.create(
        project=project, version=1, status="done", train_size=30, labels_total=42,
        metrics=METRICS,
    )  # fmt: skip
    client = Client()
    client.force_login(project.memberships.get(role="lead").user)
    export = client.get(f"/projects/{project.pk}/export/").content.decode()
    assert "<td>v1</td><td>30</td><td>12</td><td>42</td>" in export
    dashboard = client.get(f"/projects/{project.pk}/").content.decode()
    assert "trained on 30 labels; 12 more kept apart as the holdout" in dashboard
    status = api["lead"].get(f"/api/projects/{project.pk}/status/").json()["model"]
    assert (status["train_size"], status["holdout_size"], status["labels_total"]) == (30, 12, 42)
