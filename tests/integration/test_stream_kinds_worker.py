"""Stream mode on multi-label and span projects end to end: a real Celery worker trains
the task's model, arrivals are decided by it, queried items are answered with a set or
with spans, and the batch they fill retrains the model that answers the next arrival."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Batch, Item, ModelVersion
from tests.strategies.spans_corpus import synthetic_corpus
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SET_LABELS = ["x_positive", "y_positive", "both_large"]


def truth(x: list[float]) -> list[str]:
    chosen = [x[0] > 0, x[1] > 0, x[0] + x[1] > 1]
    return [name for name, on in zip(SET_LABELS, chosen, strict=True) if on]


def models_done(pid: int) -> int:
    return ModelVersion.objects.filter(project_id=pid, status="done").count()


def start(api: Any, worker: Any, body: dict[str, Any], lines: list[str]) -> int:
    """A project with ann1, its seed import, and the worker's first model."""
    common = {"batch_size": 5, "holdout_fraction": 0, "stream": {"budget": 0.5}}
    response = api["lead"].post("/api/projects/", {**common, **body}, format="json")
    assert response.status_code == 201, response.content
    pid = int(response.json()["id"])
    member = {"username": "ann1", "role": "annotator"}
    api["lead"].post(f"/api/projects/{pid}/members/", member, format="json")
    upload = SimpleUploadedFile("seed.jsonl", "\n".join(lines).encode())
    assert api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload}).status_code == 201
    wait_for(lambda: models_done(pid) == 1, what=worker.output()[-3000:])
    return pid


def stream_and_label(
    api: Any, pid: int, entries: list[dict[str, Any]], answer: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]]:
    """Post the arrivals, then answer every queried item through next/ until none is left."""
    posted = api["ann1"].post(f"/api/projects/{pid}/stream/", {"items": entries}, format="json")
    assert posted.status_code == 200, posted.content
    decisions: list[dict[str, Any]] = posted.json()["decisions"]
    assert {d["model_version"] for d in decisions} == {1}
    queried = sum(d["query"] for d in decisions)
    assert 0.25 * len(entries) <= queried <= 0.5 * len(entries) + 1
    for _ in range(queried):
        nxt = api["ann1"].get(f"/api/projects/{pid}/next/")
        if nxt.status_code != 200:
            break
        body = {"item": nxt.json()["item"]["id"], **answer(nxt.json()["item"])}
        sent = api["ann1"].post(f"/api/projects/{pid}/annotations/", body, format="json")
        assert sent.status_code == 201, sent.content
    assert Batch.objects.filter(project_id=pid, state="closed").exists()
    wait_for(lambda: models_done(pid) >= 2, what="the retrain after a stream batch")
    return decisions


def test_a_multilabel_stream_is_decided_labelled_with_sets_and_retrained(
    api, celery_worker_process
) -> None:  # type: ignore[no-untyped-def]
    X = np.random.default_rng(3).normal(size=(160, 2))
    seeds = [json.dumps({"features": x.tolist(), "labels": truth(x.tolist())}) for x in X[:100]]
    body = {"name": "Sets", "kind": "vector", "task": "multilabel", "labels": SET_LABELS}
    pid = start(api, celery_worker_process, {**body, "allow_empty_set": True}, seeds)
    stream_and_label(
        api,
        pid,
        [{"features": x.tolist()} for x in X[100:]],
        lambda item: {"labels": truth(_vector(pid, item["id"]))},
    )
    later = (
        api["ann1"]
        .post(f"/api/projects/{pid}/stream/", {"features": [2.0, 2.0]}, format="json")
        .json()
    )
    assert later["model_version"] >= 2 and later["prediction"] in SET_LABELS


def _vector(pid: int, item_id: int) -> list[float]:
    return list(Item.objects.get(project_id=pid, pk=item_id).vector or [])


def test_a_span_stream_is_decided_labelled_with_spans_and_retrained(
    api, celery_worker_process
) -> None:  # type: ignore[no-untyped-def]
    docs = synthetic_corpus(140, seed=4)
    gold = {d.text: [s.as_dict() for s in d.spans] for d in docs}
    seeds = [json.dumps(d.as_dict()) for d in docs[:80]]
    body = {"name": "NER", "kind": "text", "task": "spans", "labels": ["PER", "LOC"]}
    pid = start(api, celery_worker_process, body, seeds)
    decisions = stream_and_label(
        api,
        pid,
        [{"text": d.text} for d in docs[80:]],
        lambda item: {"spans": gold[item["text"]]},
    )
    assert {d["prediction"] for d in decisions} <= {"PER", "LOC", None}
    later = (
        api["ann1"]
        .post(f"/api/projects/{pid}/stream/", {"text": "Alice visited Paris ."}, format="json")
        .json()
    )
    assert later["model_version"] >= 2 and 0.0 <= later["score"] < 0.5
