"""Three annotators of different reliability, overlap 3, and a real Celery worker retraining.

The worker trains on consensus labels only; a three-way tie goes to review; the
reviewer's decision asks for a retrain and the next model version trains on it.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from projects.models import Batch, Item, ModelVersion
from tests.annotator.conftest import LABELS, label_next, truth_of

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RELIABILITY = {"ann1": 0.95, "ann2": 0.80, "ann3": 0.50}


def wait_for(check: Callable[[], bool], what: Callable[[], str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out; worker log:\n{what()[-4000:]}")


def simulated(name: str, tie_id: list[int]) -> Callable[[dict[str, Any]], str]:
    """An annotator right with probability RELIABILITY[name], seeded per item; on the
    first item everyone is handed, the three disagree completely (a tie)."""

    def answer(item: dict[str, Any]) -> str:
        if not tie_id:
            tie_id.append(item["id"])
        if item["id"] == tie_id[0]:
            return LABELS[list(RELIABILITY).index(name)]
        truth = truth_of(item)
        rng = random.Random(f"{name}:{item['id']}")
        if rng.random() < RELIABILITY[name]:
            return truth
        return rng.choice([label for label in LABELS if label != truth])

    return answer


def test_consensus_training_review_and_retrain_with_a_real_worker(  # type: ignore[no-untyped-def]
    api, client_for, new_project, celery_worker_process
):
    clients = {"ann1": api["ann1"], "ann2": api["ann2"], "ann3": client_for("ann3")}
    project = new_project(
        {**{name: "annotator" for name in clients}, "reviewer": "reviewer"},
        n=24,
        overlap=3,
        batch_size=6,
        holdout_fraction=0,
    )
    pid = project.pk
    tie: list[int] = []
    answers: dict[int, list[str]] = {}
    first_batch_open = True
    while first_batch_open:
        for name, client in clients.items():
            given = label_next(client, pid, simulated(name, tie))
            assert given is not None
            label = simulated(name, tie)(given)
            answers.setdefault(given["id"], []).append(label)
            first_batch_open = Batch.objects.filter(
                project=project, number=1, state="open"
            ).exists()
            if not first_batch_open:
                break
    assert all(len(labels) == 3 for labels in answers.values()) and len(answers) == 6

    wait_for(
        lambda: ModelVersion.objects.filter(project=project, status="done").exists(),
        celery_worker_process.output,
    )
    first = ModelVersion.objects.get(project=project, status="done")
    ties = {item_id for item_id, labels in answers.items() if max(Counter(labels).values()) < 2}
    assert tie[0] in ties
    for item_id, labels in answers.items():
        item = Item.objects.get(pk=item_id)
        if item_id in ties:
            assert (item.state, item.label) == ("review", None)
        else:
            winner = Counter(labels).most_common(1)[0][0]
            assert (item.label, item.label_source) == (winner, "consensus")
    trained_on = Item.objects.filter(project=project, label__isnull=False, is_holdout=False)
    assert first.train_size == trained_on.count() == 6 - len(ties)

    # the lead switches method; the worker recomputes consensus before the next retrain
    assert (
        api["lead"]
        .patch(f"/api/projects/{pid}/", {"consensus_method": "weighted"}, format="json")
        .status_code
        == 200
    )
    queue = api["reviewer"].get(f"/api/projects/{pid}/review/").json()
    assert {entry["item"] for entry in queue} == ties
    assert all(
        sorted(a["annotator"] for a in entry["annotations"]) == ["ann1", "ann2", "ann3"]
        for entry in queue
    )
    for entry in queue:
        decided = api["reviewer"].post(
            f"/api/projects/{pid}/review/",
            {"item": entry["item"], "label": truth_of(entry)},
            format="json",
        )
        assert decided.status_code == 201, decided.content

    wait_for(
        lambda: ModelVersion.objects.filter(project=project, status="done").count() >= 2,
        celery_worker_process.output,
    )
    second = ModelVersion.objects.filter(project=project, status="done").order_by("-version")[0]
    assert second.trigger == "review"
    assert second.train_size == first.train_size + len(ties)
    methods = set(
        Item.objects.filter(project=project, label_source="consensus").values_list(
            "consensus_method", flat=True
        )
    )
    assert methods == {"weighted"}
    reviewed = Item.objects.filter(pk__in=ties)
    assert {(i.label_source, i.state) for i in reviewed} == {("review", "labeled")}
