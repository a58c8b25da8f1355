"""The replay job on multi-label and span projects through a real Celery worker: seed
answers imported over HTTP, a holdout among them, the worker's model sets the target
(micro F1, entity F1), and the worker replays the task's grid to it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Item, ModelVersion, Project
from projects.replay import replay_compute, replay_grid
from tests.strategies.spans_corpus import synthetic_corpus
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SET_LABELS = ["x_positive", "y_positive", "both_large"]


def truth(x: list[float]) -> list[str]:
    chosen = [x[0] > 0, x[1] > 0, x[0] + x[1] > 1]
    return [name for name, on in zip(SET_LABELS, chosen, strict=True) if on]


def done(pid: int) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(project_id=pid, status="done").order_by("version"))


def trained_with_holdout(api: Any, worker: Any, body: dict[str, Any], lines: list[str]) -> int:
    """A project whose seeds are imported in two files: after the first model, the first
    30 seeds become the holdout, and the second import's retrain is judged on them."""
    common = {"batch_size": 10, "holdout_fraction": 0, "stopping": []}
    response = api["lead"].post("/api/projects/", {**common, **body}, format="json")
    assert response.status_code == 201, response.content
    pid = int(response.json()["id"])
    url = f"/api/projects/{pid}/import/"
    first = SimpleUploadedFile("a.jsonl", "\n".join(lines[:-5]).encode())
    assert api["lead"].post(url, {"file": first}).status_code == 201
    wait_for(lambda: len(done(pid)) == 1, what=worker.output()[-3000:])
    held = Item.objects.filter(project_id=pid).order_by("id").values_list("id", flat=True)[:30]
    Item.objects.filter(pk__in=list(held)).update(is_holdout=True)
    second = SimpleUploadedFile("b.jsonl", "\n".join(lines[-5:]).encode())
    assert api["lead"].post(url, {"file": second}).status_code == 201
    wait_for(lambda: len(done(pid)) == 2, what=worker.output()[-3000:])
    return pid


def replayed(api: Any, worker: Any, pid: int) -> dict[str, Any]:
    url = f"/api/projects/{pid}/replay/"
    started = api["lead"].post(url)
    assert started.status_code == 202, started.content
    wait_for(
        lambda: api["lead"].get(url).json()["state"] in ("done", "failed"),
        timeout=240,
        what=worker.output()[-3000:],
    )
    body: dict[str, Any] = api["lead"].get(url).json()
    assert body["state"] == "done", body.get("error")
    return body


def test_a_multilabel_replay_in_the_worker_is_the_simulators(api, celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    X = np.random.default_rng(5).normal(size=(110, 2))
    lines = [json.dumps({"features": x.tolist(), "labels": truth(x.tolist())}) for x in X]
    body = {"name": "Sets", "kind": "vector", "task": "multilabel", "labels": SET_LABELS}
    pid = trained_with_holdout(api, celery_worker_process, {**body, "allow_empty_set": True}, lines)
    target = (done(pid)[-1].metrics or {})["micro_f1"]
    result = replayed(api, celery_worker_process, pid)
    assert result["metric"] == "micro-F1" and result["target"] == pytest.approx(target)
    assert (result["config"]["pool"], result["config"]["test"]) == (80, 30)
    # By hand, in this process: the same grid, data and seeds give the same figures.
    config, rows = replay_compute(Project.objects.get(pk=pid), target=target)
    assert config == result["config"] and len(rows) == len(result["results"])
    for mine, theirs in zip(rows, result["results"], strict=True):
        for key in ("strategy", "selector", "labels_to_target", "low", "high", "reached"):
            assert mine[key] == theirs[key], (mine, theirs)
        assert mine["aulc"] == pytest.approx(theirs["aulc"])


def test_a_span_replay_in_the_worker_reaches_the_crfs_entity_f1(api, celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    lines = [json.dumps(d.as_dict()) for d in synthetic_corpus(75, seed=8)]
    body = {"name": "NER", "kind": "text", "task": "spans", "labels": ["PER", "LOC"]}
    pid = trained_with_holdout(api, celery_worker_process, body, lines)
    target = (done(pid)[-1].metrics or {})["f1"]
    result = replayed(api, celery_worker_process, pid)
    assert result["metric"] == "entity F1" and result["target"] == pytest.approx(target)
    assert (result["config"]["pool"], result["config"]["test"]) == (45, 30)
    names = {f"{r['strategy']}+{r['selector']}" for r in result["results"]}
    assert names == set(replay_grid(Project.objects.get(pk=pid)))
    assert any(r["reached"] for r in result["results"])
