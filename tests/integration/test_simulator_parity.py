"""The platform and the simulator run the same code (issue 15), checked with a real worker.

A text project imports a pool of which some items carry labels; the Celery worker
retrains. The same texts and labels then go through what ``strategies.simulate`` runs
(a vocabulary fitted on the pool, ``train_model``, ``score``), with no database: the
worker's ranking of the pool must be the simulator's, prediction for prediction and
score for score, and so must its chosen C.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np
import pytest
from rest_framework.test import APIClient

from projects.models import ModelVersion
from projects.training import rankings
from strategies.features import pool_text_features
from strategies.models import train_model
from strategies.query import QueryContext, score
from tests.support.services import Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DEMO = Path(__file__).resolve().parents[2] / "strategies" / "data" / "demo_text.csv"
LABELS = ["concurrency", "gui", "networking", "numbers"]
POOL = 400
LABELLED = 60
TIMEOUT = 120.0


def test_the_workers_model_and_ranking_are_the_simulators(
    celery_worker_process: Worker, api: dict[str, APIClient]
) -> None:
    with DEMO.open(newline="", encoding="utf-8") as fh:
        rows = {r["text"]: r["label"] for r in csv.DictReader(fh) if r["label"] in LABELS}
    pairs = sorted(rows.items())
    order = np.random.default_rng(5).permutation(len(pairs))[:POOL]
    pool = [pairs[i] for i in order]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label"])
    writer.writerows((text, label if i < LABELLED else "") for i, (text, label) in enumerate(pool))
    upload = io.BytesIO(buffer.getvalue().encode())
    upload.name = "pool.csv"

    lead = api["lead"]
    created = lead.post(
        "/api/projects/",
        {
            "name": "Parity",
            "kind": "text",
            "labels": LABELS,
            "strategy": "margin",
            "holdout_fraction": 0.0,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    assert lead.post(f"/api/projects/{pid}/import/", {"file": upload}).status_code == 201

    deadline = time.monotonic() + TIMEOUT
    version = None
    while version is None:
        version = ModelVersion.objects.filter(
            project_id=pid, status=ModelVersion.Status.DONE
        ).first()
        if time.monotonic() > deadline:
            pytest.fail(f"no model version; worker log:\n{celery_worker_process.output()[-4000:]}")
        time.sleep(0.25)
    ranking = rankings.ranking_load(pid, version.version)
    assert ranking is not None

    # The simulator's path: the pool's vocabulary, our model, the strategy's scores.
    texts = [text for text, _ in pool]
    _, X = pool_text_features(texts)
    y = np.array([LABELS.index(label) for _, label in pool[:LABELLED]])
    model = train_model(X[:LABELLED], y, len(LABELS), random_state=0)
    X_unlabelled = X[LABELLED:]
    proba = model.predict_proba(X_unlabelled)
    scores = score(
        "margin",
        QueryContext(X_pool=X_unlabelled, model=model, proba=proba, random_state=version.version),
    )
    assert version.train_size == LABELLED
    assert len(ranking.ids) == POOL - LABELLED  # ids ascend in import order
    np.testing.assert_array_equal(ranking.predictions, proba.argmax(axis=1))
    np.testing.assert_allclose(ranking.scores, scores, rtol=1e-6, atol=1e-9)
    assert version.hyperparameters["C"] == model.chosen_["C"]
    assert version.hyperparameters["searched"] is True
    assert version.estimator == "logistic_regression"
