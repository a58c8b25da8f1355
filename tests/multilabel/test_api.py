"""Multi-label projects through the HTTP API: the task, sets submitted, consensus per label."""

from __future__ import annotations

import pytest

from annotator.quality import services as consensus_service
from projects.models import Annotation, Item, Project
from strategies.defaults import DEFAULT_MULTILABEL_STRATEGY

pytestmark = pytest.mark.django_db

LABELS = ["sports", "politics", "tech"]


def _create(api, **extra: object):  # type: ignore[no-untyped-def]
    body = {"name": "Tags", "kind": "text", "labels": LABELS, "batch_size": 4, **extra}
    return api["lead"].post("/api/projects/", body, format="json")


@pytest.fixture
def project(api):  # type: ignore[no-untyped-def]
    response = _create(api, task="multilabel", overlap=1)
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    api["lead"].post(
        f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"}, format="json"
    )
    api["lead"].post(
        f"/api/projects/{pid}/members/", {"username": "ann2", "role": "annotator"}, format="json"
    )
    return Project.objects.get(pk=pid)


def test_task_defaults_to_single_and_is_reported(api):  # type: ignore[no-untyped-def]
    body = _create(api).json()
    assert body["task"] == "single"
    assert body["strategy"] == "margin"


def test_multilabel_project_gets_a_multilabel_default_strategy(api):  # type: ignore[no-untyped-def]
    body = _create(api, task="multilabel").json()
    assert (body["task"], body["strategy"]) == ("multilabel", DEFAULT_MULTILABEL_STRATEGY)


def test_spans_are_refused_on_images(api):  # type: ignore[no-untyped-def]
    image = _create(api, task="spans", kind="image")
    assert "text projects only" in image.json()["task"][0]


def test_strategies_of_the_other_task_are_refused_both_ways(api, project):  # type: ignore[no-untyped-def]
    single = _create(api, strategy="multilabel_margin")
    assert single.status_code == 400 and "strategy" in single.json()
    multi = _create(api, task="multilabel", strategy="margin")
    assert multi.status_code == 400 and "strategy" in multi.json()
    patch = api["lead"].patch(
        f"/api/projects/{project.pk}/", {"strategy": "entropy"}, format="json"
    )
    assert patch.status_code == 400
    ok = api["lead"].patch(
        f"/api/projects/{project.pk}/", {"strategy": "multilabel_entropy"}, format="json"
    )
    assert ok.status_code == 200, ok.content


@pytest.mark.parametrize("name", ["multilabel_mmc", "multilabel_adaptive", "multilabel_cvirs"])
def test_literature_strategies_are_for_multilabel_projects_only(api, name):  # type: ignore[no-untyped-def]
    single = _create(api, strategy=name)
    assert single.status_code == 400 and "strategy" in single.json()
    multi = _create(api, task="multilabel", strategy=name)
    assert multi.status_code == 201, multi.content
    assert multi.json()["strategy"] == name


def test_the_task_cannot_change_after_creation(api, project):  # type: ignore[no-untyped-def]
    response = api["lead"].patch(f"/api/projects/{project.pk}/", {"task": "single"}, format="json")
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.task == "multilabel"


def _import(api, project: Project, n: int = 8) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    rows = "".join(f'{{"text": "item number {i}"}}\n' for i in range(n))
    upload = SimpleUploadedFile("pool.jsonl", rows.encode())
    response = api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": upload})
    assert response.status_code in (201, 202), response.content


def _next(api, who: str, project: Project) -> int:  # type: ignore[no-untyped-def]
    response = api[who].get(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 200, response.content
    assert response.json()["task"] == "multilabel"
    return int(response.json()["item"]["id"])


def test_a_set_is_submitted_once_and_becomes_the_items_labels(api, project):  # type: ignore[no-untyped-def]
    _import(api, project)
    item = _next(api, "ann1", project)
    url = f"/api/projects/{project.pk}/annotations/"
    body = {"item": item, "labels": ["tech", "sports"], "confidence": 4}
    first = api["ann1"].post(url, body, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["labels"] == ["sports", "tech"]  # the project's order
    again = api["ann1"].post(url, body, format="json")
    assert again.status_code == 200
    assert Annotation.objects.filter(item_id=item).count() == 1
    stored = Item.objects.get(pk=item)
    assert (stored.state, stored.labels, stored.label) == ("labeled", ["sports", "tech"], None)


def test_unknown_labels_a_single_label_and_the_empty_set_are_refused(api, project):  # type: ignore[no-untyped-def]
    _import(api, project)
    item = _next(api, "ann1", project)
    url = f"/api/projects/{project.pk}/annotations/"
    unknown = api["ann1"].post(url, {"item": item, "labels": ["weather"]}, format="json")
    assert unknown.status_code == 400 and "unknown labels" in unknown.json()["labels"][0]
    single = api["ann1"].post(url, {"item": item, "label": "tech"}, format="json")
    assert single.status_code == 400
    empty = api["ann1"].post(url, {"item": item, "labels": []}, format="json")
    assert empty.status_code == 400
    project.allow_empty_set = True
    project.save(update_fields=["allow_empty_set"])
    allowed = api["ann1"].post(url, {"item": item, "labels": []}, format="json")
    assert allowed.status_code == 201
    assert Item.objects.get(pk=item).labels == []


def test_a_single_label_project_refuses_a_set(api):  # type: ignore[no-untyped-def]
    pid = _create(api).json()["id"]
    response = api["lead"].post(
        f"/api/projects/{pid}/annotations/", {"item": 1, "labels": ["tech"]}, format="json"
    )
    assert response.status_code == 400


def _annotated(project: Project, sets: list[list[str]], users) -> Item:  # type: ignore[no-untyped-def]
    item = Item.objects.create(
        project=project, text="x", state="queued", required=len(sets),
        annotation_count=len(sets), assigned=len(sets),
    )  # fmt: skip
    Annotation.objects.bulk_create(
        Annotation(project=project, item=item, annotator=user, label="", labels=chosen)
        for user, chosen in zip(users, sets, strict=True)
    )
    return item


@pytest.mark.parametrize("method", ["majority", "weighted", "dawid_skene"])
def test_consensus_is_decided_per_label(users, project, method):  # type: ignore[no-untyped-def]
    project.consensus_method = method
    project.save(update_fields=["consensus_method"])
    crowd = [users["ann1"], users["ann2"], users["lead"]]
    agreed = _annotated(project, [["sports", "tech"], ["sports"], ["sports", "tech"]], crowd)
    consensus_service.item_finalise(project=project, item=agreed)
    agreed.refresh_from_db()
    assert (agreed.state, agreed.labels, agreed.label_source) == (
        "labeled", ["sports", "tech"], "consensus"
    )  # fmt: skip


def test_a_tied_label_sends_the_item_to_review(users, project):  # type: ignore[no-untyped-def]
    item = _annotated(project, [["sports"], ["sports", "politics"]], [users["ann1"], users["ann2"]])
    consensus_service.item_finalise(project=project, item=item)
    item.refresh_from_db()
    assert (item.state, item.labels) == ("review", None)
    assert consensus_service.consensus_recompute(project=project) == 0


def test_review_shows_each_set_and_the_reviewer_picks_the_final_set(api, users, project):  # type: ignore[no-untyped-def]
    api["lead"].post(
        f"/api/projects/{project.pk}/members/", {"username": "reviewer", "role": "reviewer"},
        format="json",
    )  # fmt: skip
    item = _annotated(project, [["sports"], ["sports", "politics"]], [users["ann1"], users["ann2"]])
    consensus_service.item_finalise(project=project, item=item)
    queue = api["reviewer"].get(f"/api/projects/{project.pk}/review/").json()
    entry = next(e for e in queue if e["item"] == item.pk)
    assert sorted(map(tuple, (a["labels"] for a in entry["annotations"]))) == [
        ("sports",), ("sports", "politics"),
    ]  # fmt: skip
    assert entry["votes"] == {"sports": 2, "politics": 1}
    url = f"/api/projects/{project.pk}/review/"
    wrong = api["reviewer"].post(url, {"item": item.pk, "label": "sports"}, format="json")
    assert wrong.status_code == 400
    body = {"item": item.pk, "labels": ["politics", "sports"]}
    decided = api["reviewer"].post(url, body, format="json")
    assert decided.status_code == 201, decided.content
    assert decided.json()["labels"] == ["sports", "politics"]
    assert api["reviewer"].post(url, body, format="json").status_code == 200
    other = api["reviewer"].post(url, {"item": item.pk, "labels": ["tech"]}, format="json")
    assert other.status_code == 409
    item.refresh_from_db()
    assert (item.state, item.labels, item.label_source) == (
        "labeled", ["sports", "politics"], "review"
    )  # fmt: skip


def test_agreement_is_reported_per_label_and_over_sets(api, users, project):  # type: ignore[no-untyped-def]
    crowd = [users["ann1"], users["ann2"]]
    _annotated(project, [["sports"], ["sports"]], crowd)
    _annotated(project, [["politics", "tech"], ["politics"]], crowd)
    _annotated(project, [["tech"], ["tech"]], crowd)
    body = api["lead"].get(f"/api/projects/{project.pk}/agreement/").json()
    assert body["items"] == 3 and body["distance"] == "masi"
    assert [entry["label"] for entry in body["per_label"]] == LABELS
    assert body["per_label"][0]["krippendorff_alpha"] == pytest.approx(1.0)  # sports
    assert 0 < body["krippendorff_alpha"] < 1
    assert [(p["a"], p["b"]) for p in body["pairs"]] == [("ann1", "ann2")]


def test_status_counts_items_with_a_final_set_as_labelled(api, project):  # type: ignore[no-untyped-def]
    api["lead"].patch(f"/api/projects/{project.pk}/", {"allow_empty_set": True}, format="json")
    rows = '{"text": "a", "labels": ["tech"]}\n{"text": "b", "labels": []}\n{"text": "c"}\n'
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("pool.jsonl", rows.encode())
    assert (
        api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": upload}).status_code == 201
    )
    status = api["lead"].get(f"/api/projects/{project.pk}/status/").json()
    assert status["labeled"] == 2


def test_undo_and_history_carry_the_set_and_a_set_can_be_changed(api, project):  # type: ignore[no-untyped-def]
    _import(api, project)
    item = _next(api, "ann1", project)
    base = f"/api/projects/{project.pk}"
    api["ann1"].post(f"{base}/annotations/", {"item": item, "labels": ["tech"]}, format="json")
    undo = api["ann1"].post(f"{base}/undo/").json()
    assert undo["previous"]["labels"] == ["tech"]
    changed = api["ann1"].patch(
        f"{base}/history/{item}/", {"labels": ["politics", "tech"]}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["labels"] == ["politics", "tech"]
    assert Item.objects.get(pk=item).labels == ["politics", "tech"]


def test_the_create_page_makes_a_multilabel_project_with_its_default_strategy(client, users):  # type: ignore[no-untyped-def]
    client.force_login(users["ann2"])
    page = client.get("/projects/new/").content.decode()
    assert 'name="task"' in page and "multilabel_margin" in page
    body = {"name": "Via UI", "kind": "image", "task": "multilabel", "labels": "cat\ndog"}
    response = client.post("/projects/new/", body)
    assert response.status_code == 302
    project = Project.objects.get(name="Via UI")
    assert (project.task, project.strategy) == ("multilabel", DEFAULT_MULTILABEL_STRATEGY)
    settings_page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert "multilabel_entropy" in settings_page and 'value="margin"' not in settings_page


def test_the_history_page_changes_a_set_with_its_toggles(api, project, users):  # type: ignore[no-untyped-def]
    from django.test import Client

    _import(api, project)
    item = _next(api, "ann1", project)
    base = f"/api/projects/{project.pk}"
    api["ann1"].post(f"{base}/annotations/", {"item": item, "labels": ["tech"]}, format="json")
    page = Client()
    page.force_login(users["ann1"])
    url = f"/projects/{project.pk}/annotate/history/"
    shown = page.get(url).content.decode()
    assert 'type="checkbox" name="labels" value="tech" checked' in shown
    assert 'value="sports">' in shown and '<select name="label"' not in shown
    row = page.post(
        f"{url}{item}/",
        {"labels": ["politics", "sports"], "confidence": "2"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'value="politics" checked' in row and 'value="tech">' in row
    changed = Annotation.objects.get(item_id=item, annotator=users["ann1"])
    assert (changed.labels, changed.confidence) == (["sports", "politics"], 2)
    refused = page.post(f"{url}{item}/", {"confidence": "3"}, HTTP_HX_REQUEST="true")
    assert "empty set" in refused.content.decode()
    assert Annotation.objects.get(pk=changed.pk).labels == ["sports", "politics"]


def test_the_stream_takes_items_before_any_model_and_replay_waits_for_one(api, project):  # type: ignore[no-untyped-def]
    base = f"/api/projects/{project.pk}"
    stream = api["lead"].post(f"{base}/stream/", {"text": "new item"}, format="json")
    assert stream.status_code == 200, stream.content
    assert stream.json()["query"] is True and stream.json()["score"] is None
    replay = api["lead"].post(f"{base}/replay/", {}, format="json")
    assert replay.status_code == 409 and "holdout" in replay.content.decode()
