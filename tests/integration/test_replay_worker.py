"""The replay job through a real Celery worker on the demo project, checked by hand.

An annotator labels the demo project through the API (the true topics from the demo
file) until a few model versions are evaluated on the holdout. The lead then asks for a
replay; the worker runs it. The test exports the labels, rebuilds the same pool and
test set with the library's own features, runs `strategies.simulate` on them and
checks that the job's figures are exactly what the simulator gives.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any, cast

import joblib
import numpy as np
import pytest
from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from threadpoolctl import threadpool_limits

from projects.demo import demo_create, demo_rows
from projects.models import Project
from strategies.replay import fixed_splits, replay_summary
from strategies.simulate import simulate_splits
from tests.support.services import Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LABELS_WANTED = 80
TIMEOUT = 240.0


def _client(username: str) -> APIClient:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _until(what: str, worker: Worker, ready: Any) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"gave up waiting for {what}\nworker log:\n{worker.output()[-4000:]}")


def _label_until(client: APIClient, pid: int, truth: dict[str, str], worker: Worker) -> None:
    """Label what `next/` hands out until LABELS_WANTED annotations are in."""
    done = 0
    deadline = time.monotonic() + TIMEOUT
    while done < LABELS_WANTED:
        assert time.monotonic() < deadline, worker.output()[-4000:]
        response = client.get(f"/api/projects/{pid}/next/")
        if response.status_code == 204:  # features still being computed, say
            time.sleep(0.5)
            continue
        assert response.status_code == 200, response.content
        item = response.json()["item"]
        answer = {"item": item["id"], "label": truth[item["text"]], "confidence": 5}
        posted = client.post(f"/api/projects/{pid}/annotations/", answer, format="json")
        assert posted.status_code == 201, posted.content
        done += 1


def _settled(lead: APIClient, pid: int) -> dict[str, Any] | None:
    """Status once no retrain is owed and the latest model has a holdout accuracy."""
    status: dict[str, Any] = lead.get(f"/api/projects/{pid}/status/").json()
    model = status["model"]
    if status["retrain"] or not model or not (model["metrics"] or {}).get("accuracy"):
        return None
    return status


def _exported(lead: APIClient, pid: int) -> list[dict[str, Any]]:
    response = lead.get(f"/api/projects/{pid}/export/?format=jsonl")
    body = b"".join(cast(StreamingHttpResponse, response).streaming_content)  # type: ignore[arg-type]
    return [json.loads(line) for line in body.decode().splitlines()]


def test_replay_in_the_worker_matches_the_simulator_by_hand(
    celery_worker_process: Worker,
) -> None:
    project = demo_create()
    truth = dict(demo_rows())
    lead, alice = _client("demo"), _client("alice")
    pid = project.pk
    # More of each batch in the holdout, so a few batches give a test set.
    patched = lead.patch(
        f"/api/projects/{pid}/", {"holdout_fraction": 0.4, "stopping": []}, format="json"
    )
    assert patched.status_code == 200, patched.content
    _label_until(alice, pid, truth, celery_worker_process)
    status = _until("a settled model", celery_worker_process, lambda: _settled(lead, pid))
    target = status["model"]["metrics"]["accuracy"]

    started = lead.post(f"/api/projects/{pid}/replay/")
    assert started.status_code == 202, started.content
    job_id = started.json()["id"]
    body = _until(
        "the replay",
        celery_worker_process,
        lambda: (
            (b := lead.get(f"/api/projects/{pid}/replay/").json())["state"] in ("done", "failed")
            and b
        ),
    )
    assert body["id"] == job_id and body["state"] == "done", body.get("error")
    assert body["target"] == pytest.approx(target)
    assert body["current"] == {"strategy": "margin", "selector": "kcenter"}

    # By hand: the labelled items outside the holdout are the pool, the labelled holdout
    # the test set, in id order, with the library's text features.
    project = Project.objects.get(pk=pid)
    records = [r for r in _exported(lead, pid) if r["label"] is not None]
    pool = [r for r in records if not r["holdout"]]
    test = [r for r in records if r["holdout"]]
    codes = {name: i for i, name in enumerate(project.labels)}
    config = body["config"]
    assert (config["pool"], config["test"]) == (len(pool), len(test))
    assert config["batch_size"] == project.batch_size and len(pool) >= 40 and len(test) >= 20
    # The project's own representation (a vocabulary fitted on its pool), from the model file.
    version = lead.get(f"/api/projects/{pid}/status/").json()["model"]["version"]
    saved = joblib.load(
        io.BytesIO(
            cast(
                StreamingHttpResponse, lead.get(f"/api/projects/{pid}/models/{version}/")
            ).getvalue()
        )
    )
    vectorizer = saved["representation"]["vectorizer"]
    splits = fixed_splits(
        vectorizer.transform([r["text"] for r in pool]),
        np.array([codes[r["label"]] for r in pool]),
        vectorizer.transform([r["text"] for r in test]),
        np.array([codes[r["label"]] for r in test]),
        len(project.labels),
        repeats=settings.WINNOW_REPLAY_REPEATS,
        random_state=project.random_state,
    )
    names = [f"{r['strategy']}+{r['selector']}" for r in body["results"]]
    assert "random+top_k" in names and "margin+kcenter" in names
    assert {"entropy+kcenter", "margin+top_k", "margin+cluster"} <= set(names)
    with threadpool_limits(limits=1, user_api="blas"):  # as the simulator's command runs
        document = simulate_splits(
            splits,
            names,
            batch_size=project.batch_size,
            seed_size=project.batch_size,
            budget=len(pool),
            rules=[],
            until_accuracy=target,
        )
    expected = replay_summary(document, target=target)
    assert len(body["results"]) == len(expected)
    by_pair = {(r["strategy"], r["selector"]): r for r in expected}
    for row in body["results"]:
        mine = by_pair[(row["strategy"], row["selector"])]
        for key in ("labels_to_target", "low", "high", "reached", "repeats"):
            assert row[key] == mine[key], (row, mine)
        assert row["aulc"] == pytest.approx(mine["aulc"])
