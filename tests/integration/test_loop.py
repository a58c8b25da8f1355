"""The active-learning loop end to end (issue 2), with a real Celery worker process.

A simulated annotator who knows the true labels drives three batches through the
HTTP API with a token: a coverage batch, then two batches the model chose. After
each batch the worker retrains and rescores the pool; the test waits for it by
polling `status/`, checks that the next batch is the top of the version's ranking
of the whole pool (its file) and of the scores stored on the item rows,
and finally that the last model beats the first on rows that were never imported.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import joblib
import numpy as np
import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from projects.models import (
    RANKING_ORDER,
    Batch,
    Item,
    ItemWords,
    ModelVersion,
    Project,
    SelectionLog,
)
from projects.training import rankings
from tests.support.services import Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DEMO = Path(__file__).resolve().parents[2] / "strategies" / "data" / "demo_text.csv"
# Four topics of the demo set: distinct enough for a model to learn from a few dozen labels.
LABELS = ["concurrency", "gui", "networking", "numbers"]
POOL = 1000
HELD_OUT = 300
BATCH_SIZE = 40
BATCHES = 3
TIMEOUT = 120.0


def demo_rows() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(pool, held_out): distinct demo texts of the four topics, split at random once."""
    with DEMO.open(newline="", encoding="utf-8") as fh:
        rows = {r["text"]: r["label"] for r in csv.DictReader(fh) if r["label"] in LABELS}
    pairs = sorted(rows.items())
    order = np.random.default_rng(2).permutation(len(pairs))
    shuffled = [pairs[i] for i in order]
    return shuffled[HELD_OUT : HELD_OUT + POOL], shuffled[:HELD_OUT]


def pool_csv(rows: list[tuple[str, str]]) -> io.BytesIO:
    """The pool as a user would upload it: texts only, no labels."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text"])
    writer.writerows([text] for text, _ in rows)
    upload = io.BytesIO(buffer.getvalue().encode())
    upload.name = "pool.csv"
    return upload


def wait_for(
    client: APIClient, pid: int, worker: Worker, what: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll `status/` until `ready` holds; fail with the worker's log after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        status: dict[str, Any] = client.get(f"/api/projects/{pid}/status/").json()
        if ready(status):
            return status
        failed = ModelVersion.objects.filter(project_id=pid, status=ModelVersion.Status.FAILED)
        if failed.exists() or time.monotonic() > deadline:
            pytest.fail(
                f"gave up waiting for {what}: {status}\n"
                f"{list(failed.values('version', 'error'))}\nworker log:\n{worker.output()[-4000:]}"
            )
        time.sleep(0.25)


def retrained(version: int) -> Callable[[dict[str, Any]], bool]:
    """Status says: model `version` is done and has refreshed the next batch with its picks."""

    def ready(status: dict[str, Any]) -> bool:
        model, batch = status["model"], status["batch"]
        return bool(
            model
            and model["version"] == version
            and batch
            and batch["number"] == version + 1
            and batch["kind"] == "model"
        )

    return ready


def label_batch(client: APIClient, pid: int, number: int, truth: dict[str, str]) -> int:
    """Label every item of the open batch `number`, as handed out by `next/`."""
    batch = client.get(f"/api/projects/{pid}/status/").json()["batch"]
    assert batch["number"] == number and batch["state"] == "open" and batch["done"] == 0
    for _ in range(batch["size"]):
        response = client.get(f"/api/projects/{pid}/next/")
        assert response.status_code == 200, response.headers.get("X-Reason")
        body = response.json()
        assert body["batch"]["number"] == number
        answer = {"item": body["item"]["id"], "label": truth[body["item"]["text"]], "confidence": 5}
        posted = client.post(f"/api/projects/{pid}/annotations/", answer, format="json")
        assert posted.status_code == 201, posted.content
    return int(batch["size"])


def assert_batch_is_top_of_scores(pid: int, number: int, version: int) -> None:
    """The batch's non-holdout items are exactly the best stored scores of that version."""
    batch = Batch.objects.select_related("model_version").get(project_id=pid, number=number)
    assert batch.kind == Batch.Kind.MODEL and batch.state == Batch.State.OPEN
    assert batch.model_version is not None and batch.model_version.version == version
    logs = SelectionLog.objects.filter(batch=batch, withdrawn=False).exclude(reason="holdout")
    picked = {log.item_id: log for log in logs}
    assert {(log.reason, log.model_version, log.strategy) for log in logs} == {
        ("model", version, "least_confidence")
    }
    in_batch = Item.objects.filter(batch=batch, is_holdout=False)
    assert set(in_batch.values_list("id", flat=True)) == set(picked)
    assert batch.size == BATCH_SIZE
    # The version ranked the whole unlabeled pool (its ranking file), and the batch is the
    # top of that ranking over the pool and the batch's own items.
    ranking = rankings.ranking_load(pid, version)
    assert ranking is not None
    pool = Item.objects.filter(project_id=pid, state=Item.State.POOL, is_holdout=False)
    pool_ids = np.array(list(pool.values_list("id", flat=True)), dtype=np.int64)
    assert len(pool_ids) and np.isin(pool_ids, ranking.ids).all()
    candidates = np.union1d(pool_ids, np.array(list(picked), dtype=np.int64))
    scores = ranking.scores[np.searchsorted(ranking.ids, candidates)]
    best = candidates[np.lexsort((candidates, -scores))[: len(picked)]]
    assert set(best.tolist()) == set(picked)
    for item_id, score in zip(candidates.tolist(), scores.tolist(), strict=True):
        if item_id in picked:
            assert picked[item_id].score == pytest.approx(score)
    # The item rows store the top of that ranking, and no older version's score is left
    # among them to be mistaken for the newest.
    assert not pool.filter(score__isnull=False).exclude(scored_version=version).exists()
    stored = Item.objects.filter(pk__in=list(picked)) | pool
    ranked = list(stored.order_by(*RANKING_ORDER).values_list("id", "score")[: len(picked)])
    assert {item_id for item_id, _ in ranked} == set(picked)
    for item_id, score in ranked:
        assert picked[item_id].score == pytest.approx(score)


def accuracy(client: APIClient, pid: int, version: int, rows: list[tuple[str, str]]) -> float:
    """Accuracy of a model version, downloaded through the API, on `rows`."""
    response = client.get(f"/api/projects/{pid}/models/{version}/")
    assert response.status_code == 200
    saved = joblib.load(io.BytesIO(cast(StreamingHttpResponse, response).getvalue()))
    # The file carries the project's representation: a vocabulary fitted on its pool.
    representation = saved["representation"]
    assert representation["kind"] == "vocabulary"
    predicted = saved["model"].predict(
        representation["vectorizer"].transform([text for text, _ in rows])
    )
    truth = np.array([saved["labels"].index(label) for _, label in rows])
    return float(np.mean(predicted == truth))


def test_three_batches_retrain_rescore_and_improve(
    celery_worker_process: Worker, api: dict[str, APIClient]
) -> None:
    pool, held_out = demo_rows()
    truth = dict(pool)
    lead, annotator = api["lead"], api["ann1"]
    created = lead.post(
        "/api/projects/",
        {
            "name": "Library topics",
            "kind": "text",
            "labels": LABELS,
            "batch_size": BATCH_SIZE,
            "strategy": "least_confidence",
            "selector": "top_k",
            "holdout_fraction": 0.1,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    assert (
        lead.post(
            f"/api/projects/{pid}/members/",
            {"username": "ann1", "role": "annotator"},
            format="json",
        ).status_code
        == 201
    )
    imported = lead.post(f"/api/projects/{pid}/import/", {"file": pool_csv(pool)})
    assert imported.status_code == 201 and imported.json()["created"] == POOL, imported.content

    wait_for(
        lead,
        pid,
        celery_worker_process,
        "the coverage batch",
        lambda s: bool(
            s["batch"] and s["batch"]["kind"] == "coverage" and s["batch"]["size"] == BATCH_SIZE
        ),
    )
    versions_seen = []
    for number in range(1, BATCHES + 1):
        label_batch(annotator, pid, number, truth)
        status = wait_for(
            lead, pid, celery_worker_process, f"model version {number}", retrained(number)
        )
        versions_seen.append(status["model"]["version"])
        assert status["labeled"] == number * BATCH_SIZE
        assert_batch_is_top_of_scores(pid, number + 1, version=number)

    assert versions_seen == [1, 2, 3]
    if connection.vendor == "postgresql":  # the import's search words, written after it
        assert Project.objects.get(pk=pid).words_owed == 0
        assert ItemWords.objects.filter(item__project_id=pid).count() == POOL
        found = lead.get(f"/api/projects/{pid}/items/", {"search": pool[0][0].split()[0]})
        assert found.status_code == 200 and found.json()["results"], found.content
    done = ModelVersion.objects.filter(project_id=pid).order_by("version")
    assert [(v.version, v.status) for v in done] == [(n, "done") for n in (1, 2, 3)]
    assert [v.train_size for v in done] == sorted({v.train_size for v in done})
    assert all(v.metrics and v.timings["score"] >= 0 for v in done)
    first, last = accuracy(lead, pid, 1, held_out), accuracy(lead, pid, 3, held_out)
    assert last > first + 0.05, f"held-out accuracy went from {first:.3f} to {last:.3f}"
