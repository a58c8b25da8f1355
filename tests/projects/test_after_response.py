"""`winnow.after_response`: work handed off by a request runs once its response is closed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.signals import request_finished, request_started

from winnow.after_response import after_response


def test_outside_a_request_the_work_runs_at_once() -> None:
    done: list[int] = []
    after_response(lambda: done.append(1))
    assert done == [1]


@pytest.mark.django_db  # the request signals check the database connection
def test_in_a_request_it_waits_for_the_response_to_close(caplog: Any) -> None:
    done: list[str] = []
    request_started.send(sender=None, environ={})
    try:
        after_response(lambda: done.append("first"))
        after_response(lambda: 1 / 0)  # logged; the rest still runs
        after_response(lambda: done.append("second"))
        assert done == []
    finally:
        request_finished.send(sender=None)
    assert done == ["first", "second"]
    assert "work after a response failed" in caplog.text
    after_response(lambda: done.append("after"))  # the request is over: at once
    assert done[-1] == "after"


@pytest.mark.django_db
def test_next_opens_the_next_batch_after_its_response(api, monkeypatch):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    from projects.batches import services
    from projects.models import Batch

    pid = api["lead"].post(
        "/api/projects/", {"name": "Ahead", "kind": "text", "labels": ["a", "b"],
                           "batch_size": 3, "holdout_fraction": 0}, format="json",
    ).json()["id"]  # fmt: skip
    api["lead"].post(
        f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"}, format="json"
    )
    csv = "text\n" + "".join(f"item {i}\n" for i in range(30))
    upload = SimpleUploadedFile("p.csv", csv.encode())
    assert api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload}).status_code == 201
    deferred: list[Any] = []
    monkeypatch.setattr(services, "after_response", deferred.append)
    opened = Batch.objects.filter(project_id=pid, state="open")
    for _ in range(3):  # label until the open batch runs low
        item = api["ann1"].get(f"/api/projects/{pid}/next/").json()["item"]
        api["ann1"].post(
            f"/api/projects/{pid}/annotations/", {"item": item["id"], "label": "a"}, format="json"
        )
        if deferred:
            break
    assert len(deferred) == 1, "the next batch is opened after the response"
    before = opened.count()
    deferred[0]()
    assert opened.count() == before + 1
