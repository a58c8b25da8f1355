"""Stream mode on a multi-label project: the one-vs-rest model's least sure label
decision drives the same budget and threshold rules as single-label, and a queried
item is answered with a set (tests/projects/test_stream.py: single-label)."""

from __future__ import annotations

import numpy as np
import pytest

from projects.models import Annotation, Item, Project
from projects.training import services as training_services
from strategies.stream import multilabel_confidence
from tests.multilabel.test_retrain import LABELS, make_project, retrain
from tests.support.stream import own_files as own_files  # noqa: F401 - autouse
from tests.support.stream import replayed

pytestmark = pytest.mark.django_db


def streaming_project(api, budget: float) -> Project:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    url = f"/api/projects/{project.pk}/"
    patched = api["lead"].patch(url, {"stream": {"budget": budget}}, format="json")
    assert patched.status_code == 200, patched.content
    api["lead"].post(f"{url}members/", {"username": "ann1", "role": "annotator"}, format="json")
    assert retrain(project).status == "done"
    return Project.objects.get(pk=project.pk)


def post_batch(api, project: Project, X: np.ndarray):  # type: ignore[no-untyped-def]
    body = {"items": [{"features": x.tolist()} for x in X]}
    return api["ann1"].post(f"/api/projects/{project.pk}/stream/", body, format="json")


def test_the_decision_reads_the_least_sure_label_and_keeps_the_budget(api) -> None:  # type: ignore[no-untyped-def]
    project = streaming_project(api, budget=0.3)
    X = np.random.default_rng(7).normal(size=(300, 2))
    response = post_batch(api, project, X)
    assert response.status_code == 200, response.content
    decisions = response.json()["decisions"]
    model = training_services.load_model(project.pk, 1)
    proba = model.predict_proba(X)
    assert [d["score"] for d in decisions] == pytest.approx(1 - multilabel_confidence(proba))
    assert [d["prediction"] for d in decisions] == [LABELS[j] for j in proba.argmax(axis=1)]
    assert {d["model_version"] for d in decisions} == {1}
    queried = np.array([d["query"] for d in decisions])
    assert 0.15 * 300 <= queried.sum() <= 0.3 * 300 + 1
    # Exactly the single-label rule (budget, threshold), read on the task's confidence.
    assert queried.tolist() == replayed(project, multilabel_confidence(proba))
    skipped = Item.objects.filter(pk__in=[d["item"] for d in decisions if not d["query"]])
    assert set(skipped.values_list("state", flat=True)) == {Item.State.PREDICTED}
    assert all(i.labels is None and i.prediction is not None for i in skipped)


def test_a_queried_stream_item_is_answered_with_a_set(api) -> None:  # type: ignore[no-untyped-def]
    project = streaming_project(api, budget=1.0)
    # On the boundary of both x_positive and y_positive: the model is unsure.
    answer = (
        api["ann1"]
        .post(f"/api/projects/{project.pk}/stream/", {"features": [0.01, -0.01]}, format="json")
        .json()
    )
    assert answer["query"] is True and answer["score"] > 0.3
    stream_item = Item.objects.get(pk=answer["item"])
    assert stream_item.from_stream and stream_item.state in (Item.State.POOL, Item.State.QUEUED)
    base = f"/api/projects/{project.pk}"
    for _ in range(50):  # the stream item heads the open batch or the next one
        got = api["ann1"].get(f"{base}/next/")
        assert got.status_code == 200, got.content
        item = got.json()["item"]["id"]
        labels = ["x_positive"] if item == answer["item"] else []
        body = {"item": item, "labels": labels, "confidence": 4}
        assert api["ann1"].post(f"{base}/annotations/", body, format="json").status_code == 201
        if item == answer["item"]:
            break
    annotation = Annotation.objects.get(item_id=answer["item"])
    assert annotation.labels == ["x_positive"]
    assert Item.objects.get(pk=answer["item"]).labels == ["x_positive"]
