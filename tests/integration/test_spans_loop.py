"""A span project end to end with a real Celery worker (issue 14).

Sentences "PER verb LOC [with PER]" with their true spans. Through the HTTP API: create
the project, import the pool as JSONL, label the coverage batch and a model-chosen batch
with spans, wait for the worker's CRF retrains, then check the entity metrics in the
status, the ranking's strategy in the next batch, the model file and the export.
"""

from __future__ import annotations

import io
import json
from typing import Any, cast

import joblib
import pytest
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from projects.models import Item, ModelVersion, SelectionLog
from strategies.spans.crf import SpanModel
from tests.integration.test_loop import retrained, wait_for
from tests.strategies.spans_corpus import synthetic_corpus
from tests.support.services import Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LABELS = ["PER", "LOC"]
POOL = 200
BATCH_SIZE = 24


def label_batch_with_spans(
    client: APIClient, pid: int, truth: dict[str, list[dict[str, Any]]]
) -> None:
    batch = client.get(f"/api/projects/{pid}/status/").json()["batch"]
    for _ in range(batch["size"]):
        response = client.get(f"/api/projects/{pid}/next/")
        assert response.status_code == 200, response.headers.get("X-Reason")
        body = response.json()
        answer = {"item": body["item"]["id"], "spans": truth[body["item"]["text"]]}
        posted = client.post(f"/api/projects/{pid}/annotations/", answer, format="json")
        assert posted.status_code == 201, posted.content


def test_a_span_project_learns_from_spans_and_exports_them(
    celery_worker_process: Worker, api: dict[str, APIClient]
) -> None:
    docs = list({d.text: d for d in synthetic_corpus(2 * POOL, seed=14)}.values())[:POOL]
    assert len(docs) == POOL
    truth = {d.text: [s.as_dict() for s in d.spans] for d in docs}
    lead, annotator = api["lead"], api["ann1"]
    created = lead.post(
        "/api/projects/",
        {
            "name": "People and places",
            "kind": "text",
            "task": "spans",
            "labels": LABELS,
            "batch_size": BATCH_SIZE,
            "holdout_fraction": 0.25,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["strategy"], body["selector"]) == ("mnlp", "top_k")
    pid = body["id"]
    lead.post(
        f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"}, format="json"
    )
    upload = io.BytesIO("".join(json.dumps({"text": d.text}) + "\n" for d in docs).encode())
    upload.name = "pool.jsonl"
    imported = lead.post(f"/api/projects/{pid}/import/", {"file": upload})
    assert imported.status_code == 201 and imported.json()["created"] == POOL, imported.content
    wait_for(lead, pid, celery_worker_process, "the coverage batch",
             lambda s: bool(s["batch"] and s["batch"]["kind"] == "coverage"))  # fmt: skip

    for number in (1, 2):
        label_batch_with_spans(annotator, pid, truth)
        status = wait_for(
            lead, pid, celery_worker_process, f"model version {number}", retrained(number)
        )
    model_status = status["model"]
    metrics = model_status["metrics"]
    assert model_status["headline_metric"] == "f1"
    assert model_status["headline"] == metrics["f1"]
    for name in ("precision", "recall", "f1"):
        assert metrics[f"{name}_low"] <= metrics[name] <= metrics[f"{name}_high"], name
    assert metrics["f1"] > 0.5 and metrics["n"] > 0, metrics
    version = ModelVersion.objects.get(project_id=pid, version=2)
    assert version.estimator == "crf" and version.stop_set_predictions

    # The next batch comes from version 2's ranking, by the project's sequence strategy.
    picked = SelectionLog.objects.filter(batch__project_id=pid, batch__number=3, reason="model")
    assert picked.exists() and set(picked.values_list("strategy", flat=True)) == {"mnlp"}
    assert all(p.score is not None for p in picked)

    model = lead.get(f"/api/projects/{pid}/models/2/")
    saved = joblib.load(io.BytesIO(cast(StreamingHttpResponse, model).getvalue()))
    assert isinstance(saved["model"], SpanModel)
    assert saved["model"].predict([["Alice", "visited", "Paris", "."]])[0][0] == "B-PER"

    export = lead.get(f"/api/projects/{pid}/export/?format=jsonl&items=labelled")
    lines = [json.loads(x) for x in b"".join(export.streaming_content).decode().splitlines()]
    assert len(lines) == Item.objects.filter(project_id=pid, spans__isnull=False).count() > 0
    assert all(line["spans"] == truth[line["text"]] for line in lines)
