"""When the next batch opens: before the open ones run dry, never many at once."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from projects.batches.room import BatchRoom
from projects.models import Batch
from tests.annotator.conftest import LABELS, text_project


@pytest.mark.parametrize(
    ("room", "enough"),
    [
        (BatchRoom(open_batches=1, working=0, free=1, members=1), True),  # one annotator:
        (BatchRoom(open_batches=1, working=1, free=0, members=1), False),  # once all is out
        (BatchRoom(open_batches=1, working=4, free=12, members=4), False),  # 4 per worked item
        (BatchRoom(open_batches=1, working=4, free=13, members=4), True),
        (BatchRoom(open_batches=2, working=1, free=15, members=16), False),  # 1 per member
        (BatchRoom(open_batches=2, working=1, free=16, members=16), True),
    ],
)
def test_enough_free_items(room: BatchRoom, enough: bool) -> None:
    assert room.enough_free is enough


@pytest.mark.django_db
def test_the_next_batch_opens_once_fewer_items_are_free_than_members(
    api: dict[str, APIClient],
) -> None:
    annotators = {"ann1": "annotator", "ann2": "annotator"}  # with the lead, three members
    project = text_project(api, annotators, n=20, name="Room", batch_size=4)
    pid = project.pk
    open_batches = Batch.objects.filter(project=project, state=Batch.State.OPEN)

    item = api["ann1"].get(f"/api/projects/{pid}/next/").json()["item"]["id"]
    assert open_batches.count() == 1  # 3 of its 4 items free, one per member
    answer = {"item": item, "label": LABELS[0], "confidence": 3}  # a blink: nobody works on one
    posted = api["ann1"].post(f"/api/projects/{pid}/annotations/", answer, format="json")
    assert posted.status_code == 201
    assert api["ann2"].get(f"/api/projects/{pid}/next/").status_code == 200
    assert open_batches.count() == 2  # 2 free: the next opened after the response
