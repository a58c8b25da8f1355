"""Stream mode end to end: a real Celery worker retraining per batch, on either database."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Batch, Item, ModelVersion
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

PETS = ["the cat purrs on the warm mat", "a kitten chased the toy mouse", "my dog sleeps all day"]
MONEY = [
    "stocks fell on the market today",
    "the bank raised interest rates",
    "bond yields and share prices rose",
]


def models_done(pid: int) -> int:
    return ModelVersion.objects.filter(project_id=pid, status="done").count()


def test_stream_decisions_budget_and_batch_retrain_in_the_worker(api, celery_worker_process):  # type: ignore[no-untyped-def]
    pid = (
        api["lead"]
        .post(
            "/api/projects/",
            {
                "name": "News stream",
                "kind": "text",
                "labels": ["pets", "money"],
                "batch_size": 5,
                "holdout_fraction": 0,
                "stream": {"budget": 0.1},
            },
            format="json",
        )
        .json()["id"]
    )
    api["lead"].post(
        f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"}, format="json"
    )
    seed = "text,label\n" + "".join(
        f"{t} {i},{label}\n"
        for label, texts in (("pets", PETS), ("money", MONEY))
        for i, t in enumerate(texts * 3)
    )
    assert (
        api["lead"]
        .post(f"/api/projects/{pid}/import/", {"file": SimpleUploadedFile("s.csv", seed.encode())})
        .status_code
        == 201
    )
    wait_for(lambda: models_done(pid) == 1, what=celery_worker_process.output()[-3000:])

    rng = np.random.default_rng(1)
    answers = []
    for i in range(500):
        texts = PETS if rng.random() < (0.8 if i < 250 else 0.2) else MONEY  # prior shift
        answers.append(
            api["ann1"]
            .post(f"/api/projects/{pid}/stream/", {"text": f"{texts[i % 3]} {i}"}, format="json")
            .json()
        )
    queried = [a for a in answers if a["query"]]
    assert 0.05 * 500 <= len(queried) <= 0.1 * 500 + 1
    assert {a["model_version"] for a in answers} == {1}
    predicted = Item.objects.filter(project_id=pid, from_stream=True, state="predicted")
    assert predicted.count() == 500 - len(queried)
    assert not predicted.filter(prediction__isnull=True).exists()

    stats = api["lead"].get(f"/api/projects/{pid}/stream/stats/").json()
    assert stats["arrivals"] == 500 and stats["queried"] == len(queried)
    assert stats["predicted"]["pets"] > 0 and stats["predicted"]["money"] > 0

    # The annotator labels the queried items, and labels on while the retrain of the
    # first full batch runs: the retrain's refresh and the annotations never deadlock.
    labelled = 0
    for _ in range(len(queried)):
        nxt = api["ann1"].get(f"/api/projects/{pid}/next/")
        if nxt.status_code != 200:
            break
        item = nxt.json()["item"]
        label = "money" if any(w in item["text"] for w in ("stock", "bank", "bond")) else "pets"
        assert (
            api["ann1"]
            .post(
                f"/api/projects/{pid}/annotations/",
                {"item": item["id"], "label": label},
                format="json",
            )
            .status_code
            == 201
        )
        labelled += 1
    assert labelled >= 5 and Batch.objects.filter(project_id=pid, state="closed").exists()
    wait_for(lambda: models_done(pid) >= 2, what="the retrain after a stream batch")
    later = (
        api["ann1"]
        .post(
            f"/api/projects/{pid}/stream/", {"text": "interest rates and the bank"}, format="json"
        )
        .json()
    )
    assert "model_version" in later, later
    assert later["model_version"] >= 2 and later["prediction"] == "money"
