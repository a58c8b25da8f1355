"""Gold items on multi-label projects: the lead's true sets, handed out unannounced, and
each annotator's agreement with them (per label and by MASI)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.quality.agreement import masi_distance, masi_paired, set_accuracy_against
from projects.models import Item, Project

pytestmark = pytest.mark.django_db

LABELS = ["sports", "politics", "tech"]


def test_paired_masi_matches_the_pairwise_distance() -> None:
    A = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 0, 0]])
    B = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0]])
    assert masi_paired(A, B).tolist() == pytest.approx(
        [masi_distance(a, b) for a, b in zip(A, B, strict=True)]
    )
    assert masi_paired(A, B).tolist() == pytest.approx([0.0, 1 - 0.5 * 2 / 3, 0.0, 1.0])


def test_set_accuracy_scores_each_annotators_last_set_against_gold() -> None:
    # annotator 0: item 0 exactly, item 1 a subset of gold; annotator 1: item 0 disjoint
    # (an earlier, right answer is replaced by the last); item 2 has no gold.
    items = [0, 1, 0, 0, 2]
    annotators = [0, 0, 1, 1, 1]
    sets = [[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1]]
    rows = set_accuracy_against(items, annotators, sets, [0, 1], [[1, 0, 0], [1, 1, 0]])
    assert rows[0] == (2, pytest.approx((1 + 2 / 3) / 2), pytest.approx((1 + 0.5 * 2 / 3) / 2))
    assert rows[1] == (1, pytest.approx(1 / 3), pytest.approx(0.0))


@pytest.fixture
def project(api) -> Project:  # type: ignore[no-untyped-def]
    body = {"name": "Tags", "kind": "text", "labels": LABELS, "task": "multilabel",
            "batch_size": 12, "holdout_fraction": 0}  # fmt: skip
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    api["lead"].post(f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"},
                     format="json")  # fmt: skip
    rows = "".join(f'{{"text": "item number {i}"}}\n' for i in range(12))
    upload = SimpleUploadedFile("pool.jsonl", rows.encode())
    assert api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload}).status_code == 201
    return Project.objects.get(pk=pid)


def _gold(api, project: Project, entries: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    url = f"/api/projects/{project.pk}/gold/"
    return api["lead"].post(url, {"items": entries}, format="json")


def test_gold_sets_are_checked_stored_in_order_and_listed(api, project):  # type: ignore[no-untyped-def]
    first, second = Item.objects.filter(project=project).order_by("id")[:2]
    response = _gold(api, project, [
        {"item": first.pk, "labels": ["tech", "sports"]},
        {"item": second.pk, "label": "tech"},
        {"item": second.pk + 1000, "labels": ["tech"]},
    ])  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["updated"] == 1
    assert [e["error"] for e in body["errors"]] == [
        'this project takes "labels", not "label"',
        "no such item in this project",
    ]
    refused = _gold(api, project, [{"item": second.pk, "labels": ["weather"]},
                                   {"item": first.pk, "labels": []}])  # fmt: skip
    assert refused.status_code == 400
    errors = [e["error"] for e in refused.json()["errors"]]
    assert "unknown labels ['weather']" in errors[0] and "empty set" in errors[1]
    first.refresh_from_db()
    assert (first.state, first.gold_labels, first.labels) == ("gold", ["sports", "tech"], None)
    listed = api["lead"].get(f"/api/projects/{project.pk}/gold/").json()
    assert listed == [
        {
            "item": first.pk,
            "label": None,
            "labels": ["sports", "tech"],
            "spans": None,
            "state": "gold",
        }
    ]
    assert _gold(api, project, [{"item": first.pk, "labels": None}]).json()["updated"] == 1
    first.refresh_from_db()
    assert (first.state, first.gold_labels) == ("pool", None)


def test_gold_sets_are_handed_out_and_score_the_annotator(api, project):  # type: ignore[no-untyped-def]
    first, second = Item.objects.filter(project=project).order_by("id")[:2]
    gold = {first.pk: ["sports", "tech"], second.pk: ["politics"]}
    assert (
        _gold(api, project, [{"item": i, "labels": s} for i, s in gold.items()]).json()["updated"]
        == 2
    )
    api["lead"].patch(f"/api/projects/{project.pk}/", {"gold_fraction": 0.5}, format="json")
    answers = {first.pk: ["sports", "tech"], second.pk: ["politics", "tech"]}
    seen = []
    for _ in range(40):
        response = api["ann1"].get(f"/api/projects/{project.pk}/next/")
        if response.status_code == 204:
            break
        item = response.json()["item"]["id"]
        seen.append(item)
        body = {"item": item, "labels": answers.get(item, ["sports"]), "confidence": 3}
        posted = api["ann1"].post(f"/api/projects/{project.pk}/annotations/", body, format="json")
        assert posted.status_code == 201, posted.content
    assert set(gold) <= set(seen) and len(seen) == len(set(seen))
    for item in Item.objects.filter(pk__in=list(gold)):
        assert (item.state, item.labels) == ("gold", None)  # a check, not a training set
    stats = api["ann1"].get(f"/api/projects/{project.pk}/annotators/").json()
    # label accuracy: 3/3 on the first, 2/3 on the second (tech wrongly added)
    assert stats[0]["gold_items"] == 2
    assert stats[0]["gold_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    agreement = api["lead"].get(f"/api/projects/{project.pk}/agreement/").json()
    assert agreement["gold"] == [{
        "annotator": "ann1", "n": 2, "accuracy": pytest.approx((1 + 2 / 3) / 2),
        "masi": pytest.approx((1 + 0.5 * 2 / 3) / 2),
    }]  # fmt: skip
