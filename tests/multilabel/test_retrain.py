"""A multi-label vector project's retrain, run in-process as the worker would: one-vs-rest
model, multi-label holdout metrics, rankings by a multi-label strategy, stopping rules on
micro F1 (tests/integration/test_multilabel_loop.py runs it in a real worker)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects import tasks
from projects.models import Item, ModelVersion, Project
from projects.training import rankings
from projects.training import services as training_services

pytestmark = pytest.mark.django_db

LABELS = ["x_positive", "y_positive", "both_large"]


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    yield
    training_services.load_model.cache_clear()


def truth(x: np.ndarray) -> list[str]:
    chosen = [x[0] > 0, x[1] > 0, x[0] + x[1] > 1]
    return [name for name, on in zip(LABELS, chosen, strict=True) if on]


def make_project(  # type: ignore[no-untyped-def]
    api, stopping: list[dict[str, object]], strategy: str = "multilabel_least_confidence"
) -> Project:
    body = {
        "name": "Points", "kind": "vector", "task": "multilabel", "labels": LABELS,
        "allow_empty_set": True, "stopping": stopping, "batch_size": 10, "strategy": strategy,
    }  # fmt: skip
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.content
    project = Project.objects.get(pk=response.json()["id"])
    X = np.random.default_rng(1).normal(size=(400, 2))
    lines = [
        json.dumps({"features": x.tolist(), **({"labels": truth(x)} if i < 200 else {})})
        for i, x in enumerate(X)
    ]
    upload = SimpleUploadedFile("pool.jsonl", "\n".join(lines).encode())
    imported = api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": upload})
    assert imported.json()["seeded"] == 200
    # A holdout among the seeds, as batches would have drawn it.
    seeds = Item.objects.filter(project=project, labels__isnull=False).order_by("id")
    Item.objects.filter(pk__in=list(seeds.values_list("id", flat=True)[:80])).update(
        is_holdout=True
    )
    return project


def retrain(project: Project) -> ModelVersion:
    owed = ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
    assert tasks.retrain(owed.pk)
    return ModelVersion.objects.get(pk=owed.pk)


def test_retrain_learns_sets_and_reports_multilabel_metrics(api) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    version = retrain(project)
    assert version.status == "done", version.error
    metrics = version.metrics or {}
    assert metrics["n"] == 80
    assert metrics["micro_f1"] > 0.8 and metrics["hamming_loss"] < 0.15, metrics
    assert metrics["subset_accuracy_low"] <= metrics["subset_accuracy"]
    assert version.train_size == 120
    ranking = rankings.ranking_load(project.pk, version.version)
    assert ranking is not None and len(ranking.ids) == 200
    # multilabel_least_confidence: the items nearest a label's boundary rank first.
    X = {i.pk: i.vector for i in Item.objects.filter(pk__in=ranking.ids.tolist())}
    best = int(ranking.ids[np.argmax(ranking.scores)])
    x = np.array(X[best])
    margins = np.abs([x[0], x[1], x[0] + x[1] - 1])
    assert margins.min() < 0.3


@pytest.mark.parametrize("strategy", ["multilabel_mmc", "multilabel_adaptive", "multilabel_cvirs"])
def test_retrain_ranks_the_pool_with_the_literature_strategies(api, strategy) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[], strategy=strategy)
    version = retrain(project)
    assert version.status == "done", version.error
    ranking = rankings.ranking_load(project.pk, version.version)
    assert ranking is not None and len(ranking.ids) == 200
    assert np.isfinite(ranking.scores).all() and ranking.scores.max() > ranking.scores.min()


def test_stopping_rules_read_micro_f1(api) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[{"rule": "target", "metric_low": 0.5}])
    version = retrain(project)
    [rule] = version.stopping
    assert rule["rule"] == "target" and rule["met"]
    assert rule["value"] == pytest.approx((version.metrics or {})["micro_f1_low"])
    project.refresh_from_db()
    assert project.state == "stopped"
