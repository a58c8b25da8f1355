"""The HTTP API as a client uses it (PRODUCT.md §10), without a worker."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from projects.models import Item, Project

pytestmark = pytest.mark.django_db

CSV_POOL = "text,label\n" + "".join(
    f"{'the cat sat on the mat' if i % 2 else 'stocks fell sharply today'} {i},\n"
    for i in range(30)
)


def upload(name: str, content: bytes | str) -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data)


@pytest.fixture
def project(api, users):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/",
        {"name": "News", "kind": "text", "labels": ["pets", "finance"], "batch_size": 5},
        format="json",
    )
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    for name in ("ann1", "ann2"):
        assert (
            api["lead"]
            .post(
                f"/api/projects/{pid}/members/",
                {"username": name, "role": "annotator"},
                format="json",
            )
            .status_code
            == 201
        )
    return Project.objects.get(pk=pid)


def test_token_endpoint_returns_a_token(client, users):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/auth/token/",
        {"username": "lead", "password": "pw-lead"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_create_project_needs_only_name_kind_labels(api, users):  # type: ignore[no-untyped-def]
    response = api["ann1"].post(
        "/api/projects/", {"name": "P", "kind": "text", "labels": ["a", "b"]}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["batch_size"] == 20 and body["overlap"] == 1 and body["state"] == "setup"
    assert Project.objects.get(pk=body["id"]).memberships.get().role == "lead"


def test_create_project_rejects_unknown_strategy_and_bad_rule(api, users):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/",
        {
            "name": "P",
            "kind": "text",
            "labels": ["a"],
            "strategy": "psychic",
            "stopping": [{"rule": "astrology"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"strategy", "stopping"}


def test_an_unknown_choice_is_answered_with_the_valid_names(api, users):  # type: ignore[no-untyped-def]
    body = {"name": "P", "kind": "text", "labels": ["a"], "consensus_method": "psychic"}
    response = api["lead"].post("/api/projects/", body, format="json")
    assert response.status_code == 400
    assert response.json()["consensus_method"] == [
        "unknown consensus_method; choose one of ['dawid_skene', 'majority', 'weighted']"
    ]


def test_outsider_gets_404_for_every_project_url(api, project):  # type: ignore[no-untyped-def]
    pid = project.pk
    for url in ("", "status/", "next/", "export/", "members/", "curve/"):
        assert api["outsider"].get(f"/api/projects/{pid}/{url}").status_code == 404, url
    assert (
        api["outsider"]
        .post(f"/api/projects/{pid}/annotations/", {"item": 1, "label": "pets"}, format="json")
        .status_code
        == 404
    )
    assert api["outsider"].get("/api/projects/").json() == []


def test_annotator_gets_403_for_lead_only_actions(api, project):  # type: ignore[no-untyped-def]
    pid = project.pk
    client = api["ann1"]
    assert (
        client.patch(f"/api/projects/{pid}/", {"batch_size": 3}, format="json").status_code == 403
    )
    assert (
        client.post(
            f"/api/projects/{pid}/members/", {"username": "outsider", "role": "lead"}, format="json"
        ).status_code
        == 403
    )
    assert (
        client.post(f"/api/projects/{pid}/import/", {"file": upload("a.csv", CSV_POOL)}).status_code
        == 403
    )
    assert client.get(f"/api/projects/{pid}/export/").status_code == 403


def test_import_csv_reports_bad_rows_by_line_and_keeps_good_ones(api, project):  # type: ignore[no-untyped-def]
    content = 'text,label\nhello cat,pets\n,finance\nmoney,unknown\n"broken quote row,pets\n'
    content = "text,label\nhello cat,pets\n,finance\nmoney,astro\nbank rates,\nextra,pets,x\n"
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": upload("p.csv", content)}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 2 and body["skipped"] == 3
    assert [e["line"] for e in body["errors"]] == [3, 4, 6]
    assert "unknown label" in body["errors"][1]["error"]
    assert Item.objects.filter(project=project, label="pets", label_source="seed").count() == 1


def test_import_jsonl_with_meta_and_bad_lines(api, project):  # type: ignore[no-untyped-def]
    lines = [
        json.dumps({"text": "a dog", "label": "pets", "meta": {"source": "x"}}),
        "{not json",
        json.dumps({"text": "the market", "id": "ext-7"}),
        json.dumps(["a list"]),
    ]
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": upload("p.jsonl", "\n".join(lines))}
    )
    body = response.json()
    assert response.status_code == 201
    assert body["created"] == 2 and [e["line"] for e in body["errors"]] == [2, 4]
    assert Item.objects.get(project=project, text="the market").meta == {"id": "ext-7"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.csv", "text,label\ncaf\xe9,pets\n".encode("latin-1"), "not UTF-8"),
        ("p.csv", "body,label\nx,pets\n", "'text' column"),
        ("p.csv", 'text,label\n"unterminated,pets\n', "Malformed CSV"),
        ("p.exe", "MZ", "Unsupported file type"),
        ("p.csv", "text,label\n,\n", "missing text"),
    ],
)
def test_bad_files_are_refused_whole_with_a_message(api, project, name, content, message):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": upload(name, content)}
    )
    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert not Item.objects.filter(project=project).exists()


@override_settings(WINNOW_MAX_UPLOAD_BYTES=100)
def test_too_large_upload_gets_413(api, project):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": upload("p.csv", "text\n" + "x" * 200)}
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not Item.objects.filter(project=project).exists()


def _import(api, project, text: str = CSV_POOL) -> None:  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": upload("p.csv", text)}
    )
    assert response.status_code == 201, response.content


def test_next_and_annotate_round_trip_is_idempotent(api, project):  # type: ignore[no-untyped-def]
    _import(api, project)
    first = api["ann1"].get(f"/api/projects/{project.pk}/next/")
    assert first.status_code == 200
    item = first.json()["item"]
    assert set(item) >= {"id", "text"}
    # asking again before labelling returns the same item (the lease is resumed)
    assert api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]["id"] == item["id"]
    url = f"/api/projects/{project.pk}/annotations/"
    payload = {"item": item["id"], "label": "pets", "confidence": 4}
    assert api["ann1"].post(url, payload, format="json").status_code == 201
    again = api["ann1"].post(url, payload, format="json")
    assert again.status_code == 200
    assert Item.objects.get(pk=item["id"]).annotations.count() == 1
    assert Item.objects.get(pk=item["id"]).label == "pets"
    second = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    assert second != item["id"]


def test_annotation_errors_are_clear_4xx(api, project, users):  # type: ignore[no-untyped-def]
    _import(api, project)
    item = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]
    url = f"/api/projects/{project.pk}/annotations/"
    bad_label = api["ann1"].post(url, {"item": item["id"], "label": "zebra"}, format="json")
    assert bad_label.status_code == 400 and "unknown label" in bad_label.json()["label"][0]
    bad_conf = api["ann1"].post(
        url, {"item": item["id"], "label": "pets", "confidence": 9}, format="json"
    )
    assert bad_conf.status_code == 400
    other = (
        api["lead"]
        .post(
            "/api/projects/", {"name": "Other", "kind": "text", "labels": ["pets"]}, format="json"
        )
        .json()["id"]
    )
    api["lead"].post(f"/api/projects/{other}/import/", {"file": upload("o.csv", "text\nfoo\n")})
    foreign = Item.objects.get(project_id=other).pk
    assert (
        api["ann1"].post(url, {"item": foreign, "label": "pets"}, format="json").status_code == 404
    )
    not_mine = api["ann2"].post(url, {"item": item["id"], "label": "pets"}, format="json")
    assert not_mine.status_code == 409
    assert not Item.objects.get(pk=item["id"]).annotations.exists()


def test_two_annotators_get_different_items_in_rank_order(api, project):  # type: ignore[no-untyped-def]
    _import(api, project)
    a = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    b = api["ann2"].get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    assert a != b
    ranks = dict(Item.objects.filter(pk__in=[a, b]).values_list("id", "batch_rank"))
    assert ranks[a] < ranks[b]


@pytest.mark.django_db(transaction=True)  # batch progress runs on commit
def test_status_and_exports(api, project):  # type: ignore[no-untyped-def]
    _import(api, project)
    item = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]
    api["ann1"].post(
        f"/api/projects/{project.pk}/annotations/",
        {"item": item["id"], "label": "finance", "confidence": 2},
        format="json",
    )
    status = api["ann1"].get(f"/api/projects/{project.pk}/status/").json()
    assert status["state"] == "collecting" and status["labeled"] == 1 and status["pool"] == 29
    assert status["batch"]["number"] == 1 and status["batch"]["done"] == 1
    assert status["model"] is None and status["stopping"] == []

    jsonl = b"".join(
        api["lead"].get(f"/api/projects/{project.pk}/export/?format=jsonl").streaming_content
    )
    records = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert len(records) == 30
    labelled = next(r for r in records if r["id"] == item["id"])
    assert labelled["label"] == "finance"
    assert labelled["annotations"][0]["annotator"] == "ann1"
    assert labelled["annotations"][0]["confidence"] == 2
    assert set(labelled) >= {"id", "text", "label", "annotations", "meta"}

    raw = b"".join(
        api["lead"].get(f"/api/projects/{project.pk}/export/?format=csv").streaming_content
    )
    rows = list(csv.reader(io.StringIO(raw.decode())))
    assert rows[0][:3] == ["id", "text", "label"] and len(rows) == 31
    assert api["lead"].get(f"/api/projects/{project.pk}/export/?format=xml").status_code == 400


def test_schema_lists_the_contract_endpoints(client):  # type: ignore[no-untyped-def]
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/auth/token/",
        "/api/projects/",
        "/api/projects/{project_id}/next/",
        "/api/projects/{project_id}/annotations/",
        "/api/projects/{project_id}/status/",
        "/api/projects/{project_id}/export/",
        "/api/projects/{project_id}/import/",
    ):
        assert path in paths, path


@pytest.mark.django_db(transaction=True)  # batch progress runs on commit
def test_next_batch_opens_when_every_item_is_handed_out(api, project, users):  # type: ignore[no-untyped-def]
    """Annotators never wait on the last items of a batch, nor on each other's slow items:
    batches pipeline, one more open than items being worked on (at least three).

    No worker runs the retrains this owes: a retrain's refresh of the last open batch
    holds its rows for a moment, and a claim skips locked rows (the page polls). A 204
    in CI, with the session's worker running, was most likely that instant."""
    from projects.batches.room import MAX_OPEN_BATCHES
    from projects.models import Batch

    services_project = Project.objects.get(pk=project.pk)
    services_project.batch_size = 1
    services_project.holdout_fraction = 0.0
    services_project.save()
    api["lead"].post(
        f"/api/projects/{project.pk}/members/",
        {"username": "reviewer", "role": "annotator"},
        format="json",
    )
    _import(api, project)
    got = {}
    for name in ("ann1", "ann2", "lead", "reviewer"):
        response = api[name].get(f"/api/projects/{project.pk}/next/")
        assert response.status_code == 200, name
        got[name] = response.json()["item"]["id"]
        assert Batch.objects.filter(project=project, state="open").count() <= max(
            MAX_OPEN_BATCHES, len(got) + 1
        )
    assert len(set(got.values())) == 4
    api["ann1"].post(
        f"/api/projects/{project.pk}/annotations/",
        {"item": got["ann1"], "label": "pets"},
        format="json",
    )
    assert Batch.objects.get(project=project, number=1).state == "closed"
    again = api["ann1"].get(f"/api/projects/{project.pk}/next/")
    assert again.status_code == 200, again.headers.get("X-Reason")
