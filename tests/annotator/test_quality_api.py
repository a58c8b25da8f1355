"""Several annotators per item over the HTTP API: overlap, gold, agreement, stats, review."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import partial

import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotator.models import ReviewDecision
from projects.models import Annotation, Item, ModelVersion
from projects.pool import snapshot as pool
from tests.annotator.conftest import LABELS, label_next, truth_of

pytestmark = pytest.mark.django_db

ANNOTATORS = {"ann1": "annotator", "ann2": "annotator", "reviewer": "reviewer"}


def _drain(clients, pid, answer, *, rounds: int = 200) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    """Round-robin the clients until none gets an item; the ids each one was handed."""
    seen: dict[str, list[int]] = defaultdict(list)
    for _ in range(rounds):
        progressed = False
        for name, client in clients.items():
            item = label_next(client, pid, partial(answer, name))
            if item is not None:
                seen[name].append(item["id"])
                progressed = True
        if not progressed:
            break
    return seen


def _tie_item(api, project):  # type: ignore[no-untyped-def]
    """ann1 and ann2 label the first item differently (overlap 2): a tie for review."""
    pid = project.pk
    first = label_next(api["ann1"], pid, lambda item: "pets")
    assert first is not None
    second = label_next(api["ann2"], pid, lambda item: "finance")
    assert second is not None and second["id"] == first["id"]
    return Item.objects.get(pk=first["id"])


def test_overlap_gives_each_item_k_distinct_annotators_never_the_same_item_twice(  # type: ignore[no-untyped-def]
    api, client_for, new_project
):
    ann3 = client_for("ann3")
    project = new_project(
        {"ann1": "annotator", "ann2": "annotator", "ann3": "annotator"},
        n=12,
        overlap=3,
        batch_size=6,
        holdout_fraction=0,
    )
    clients = {"ann1": api["ann1"], "ann2": api["ann2"], "ann3": ann3}
    seen = _drain(clients, project.pk, lambda name, item: truth_of(item))
    for name, ids in seen.items():
        assert len(ids) == len(set(ids)), f"{name} got an item twice"
    assert all(len(ids) == 12 for ids in seen.values())
    per_item = Counter(Annotation.objects.filter(project=project).values_list("item_id", flat=True))
    assert set(per_item.values()) == {3}
    distinct = Annotation.objects.filter(project=project).values("item_id", "annotator_id")
    assert len({(a["item_id"], a["annotator_id"]) for a in distinct}) == 36
    labelled = Item.objects.filter(project=project, label_source="consensus")
    assert labelled.count() == 12
    for item in labelled:
        assert item.label == truth_of({"text": item.text}) and item.consensus_support == 1.0


def test_agreement_fraction_gives_some_items_more_annotators(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(
        ANNOTATORS,
        n=40,
        overlap=1,
        agreement_fraction=0.5,
        agreement_overlap=2,
        batch_size=20,
        holdout_fraction=0,
    )
    assert api["ann1"].get(f"/api/projects/{project.pk}/next/").status_code == 200
    needs = Counter(
        Item.objects.filter(project=project, batch__isnull=False).values_list("required", flat=True)
    )
    assert set(needs) == {1, 2} and 3 <= needs[2] <= 17
    _drain({"ann1": api["ann1"], "ann2": api["ann2"]}, project.pk, lambda n, i: truth_of(i))
    batch_one = Item.objects.filter(project=project, batch__number=1)
    for item in batch_one:
        annotators = list(item.annotations.values_list("annotator_id", flat=True))
        assert len(annotators) == item.required == len(set(annotators))


def test_next_never_shows_another_annotators_label(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(ANNOTATORS, overlap=2, batch_size=6)
    pid = project.pk
    first = label_next(api["ann1"], pid, lambda item: "sport")
    assert first is not None
    response = api["ann2"].get(f"/api/projects/{pid}/next/")
    body = response.json()
    assert body["item"]["id"] == first["id"]
    assert set(body["item"]) <= {"id", "text", "image_url", "meta"}
    body.pop("labels")
    flat = json.dumps(body)
    assert "sport" not in flat and "ann1" not in flat and "annotation" not in flat


def test_tie_goes_to_review_and_reviewer_decision_is_final_and_recorded(  # type: ignore[no-untyped-def]
    api, users, new_project
):
    project = new_project(ANNOTATORS, overlap=2, batch_size=6)
    item = _tie_item(api, project)
    assert (item.state, item.label) == ("review", None)
    url = f"/api/projects/{project.pk}/review/"
    queue = api["reviewer"].get(url).json()
    assert [entry["item"] for entry in queue] == [item.pk]
    votes = {(a["annotator"], a["label"], a["confidence"]) for a in queue[0]["annotations"]}
    assert votes == {("ann1", "pets", 3), ("ann2", "finance", 3)}
    assert queue[0]["text"] == item.text

    decided = api["reviewer"].post(url, {"item": item.pk, "label": "finance"}, format="json")
    assert decided.status_code == 201, decided.content
    assert decided.json()["label"] == "finance" and decided.json()["reviewer"] == "reviewer"
    item.refresh_from_db()
    assert (item.state, item.label, item.label_source) == ("labeled", "finance", "review")
    assert ReviewDecision.objects.get(item=item).reviewer == users["reviewer"]
    assert (
        api["reviewer"].post(url, {"item": item.pk, "label": "finance"}, format="json").status_code
        == 200
    )
    assert (
        api["lead"].post(url, {"item": item.pk, "label": "pets"}, format="json").status_code == 409
    )
    assert api["reviewer"].get(url).json() == []
    # the decision emptied the queue, so a retrain is owed and will train on it
    assert ModelVersion.objects.filter(project=project, trigger="review").exists()
    snapshot = pool.pool_snapshot(project)
    assert snapshot.label[list(snapshot.ids).index(item.pk)] == LABELS.index("finance")

    records = [
        json.loads(line)
        for line in b"".join(
            api["lead"].get(f"/api/projects/{project.pk}/export/").streaming_content
        )
        .decode()
        .splitlines()
    ]
    exported = next(r for r in records if r["id"] == item.pk)
    assert exported["label"] == "finance" and exported["review"]["reviewer"] == "reviewer"
    assert {a["annotator"] for a in exported["annotations"]} == {"ann1", "ann2"}


def test_later_annotation_edit_does_not_override_a_review(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(ANNOTATORS, overlap=2, batch_size=6)
    item = _tie_item(api, project)
    api["lead"].post(
        f"/api/projects/{project.pk}/review/", {"item": item.pk, "label": "pets"}, format="json"
    )
    api["ann2"].post(
        f"/api/projects/{project.pk}/annotations/",
        {"item": item.pk, "label": "sport", "confidence": 5},
        format="json",
    )
    item.refresh_from_db()
    assert (item.label, item.label_source) == ("pets", "review")


def test_send_back_hands_the_item_to_a_new_annotator_whose_label_breaks_the_tie(  # type: ignore[no-untyped-def]
    api, client_for, new_project
):
    ann3 = client_for("ann3")
    project = new_project({**ANNOTATORS, "ann3": "annotator"}, overlap=2, batch_size=6)
    item = _tie_item(api, project)
    url = f"/api/projects/{project.pk}/review/"
    sent = api["reviewer"].post(url, {"item": item.pk, "action": "send_back"}, format="json")
    assert sent.status_code == 200 and sent.json()["state"] == "queued"
    item.refresh_from_db()
    assert (item.state, item.required, item.label) == ("queued", 3, None)
    given = label_next(ann3, project.pk, lambda it: "finance")
    assert given is not None and given["id"] == item.pk
    item.refresh_from_db()
    assert (item.state, item.label, item.label_source) == ("labeled", "finance", "consensus")
    assert item.annotations.count() == 3
    assert (
        api["reviewer"]
        .post(url, {"item": item.pk, "action": "send_back"}, format="json")
        .status_code
        == 409
    )


def test_agreement_matches_reference_implementations(api, client_for, new_project):  # type: ignore[no-untyped-def]
    ann3 = client_for("ann3")
    project = new_project(
        {"ann1": "annotator", "ann2": "annotator", "ann3": "annotator"},
        n=12,
        overlap=3,
        batch_size=12,
        holdout_fraction=0,
    )
    pid = project.pk

    def answer(name: str, item: dict) -> str:  # type: ignore[type-arg]
        truth = truth_of(item)
        wrong = LABELS[(LABELS.index(truth) + 1) % 3]
        flip = {"ann1": item["id"] % 5 == 0, "ann2": item["id"] % 3 == 0, "ann3": item["id"] % 2}
        return wrong if flip[name] else truth

    _drain({"ann1": api["ann1"], "ann2": api["ann2"], "ann3": ann3}, pid, answer)
    body = api["lead"].get(f"/api/projects/{pid}/agreement/").json()
    assert set(body) >= {"items", "fleiss_kappa", "krippendorff_alpha", "pairs"}
    rows = list(
        Annotation.objects.filter(project=project, item__batch__number=1).values_list(
            "item_id", "annotator__username", "label"
        )
    )
    assert body["items"] == len({r[0] for r in rows}) == 12
    by = {(item, name): label for item, name, label in rows}
    items = sorted({r[0] for r in rows})
    for pair in body["pairs"]:
        a = [by[(i, pair["a"])] for i in items]
        b = [by[(i, pair["b"])] for i in items]
        assert pair["n"] == 12
        assert pair["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-9)
    assert {(p["a"], p["b"]) for p in body["pairs"]} == {
        ("ann1", "ann2"),
        ("ann1", "ann3"),
        ("ann2", "ann3"),
    }
    table = [
        [sum(by[(i, n)] == label for n in ("ann1", "ann2", "ann3")) for label in LABELS]
        for i in items
    ]
    assert body["fleiss_kappa"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-9)
    matrix = body["confusion"]["matrix"]
    assert matrix == [list(row) for row in zip(*matrix, strict=True)]
    assert body["confusion"]["pairs"] == 12 * 3


def test_agreement_figures_are_null_with_too_few_shared_items(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(ANNOTATORS, overlap=1, batch_size=6)
    label_next(api["ann1"], project.pk, truth_of)
    body = api["lead"].get(f"/api/projects/{project.pk}/agreement/").json()
    assert body["items"] == 0 and body["pairs"] == []
    assert body["fleiss_kappa"] is None and body["krippendorff_alpha"] is None


def test_gold_items_are_mixed_in_unannounced_and_score_annotators(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(ANNOTATORS, n=16, overlap=1, batch_size=6, holdout_fraction=0)
    pid = project.pk
    free = list(Item.objects.filter(project=project, state="pool").order_by("id")[:2])
    marked = api["lead"].post(
        f"/api/projects/{pid}/gold/",
        {
            "items": [
                {"item": free[0].pk, "label": truth_of({"text": free[0].text})},
                {"item": free[1].pk, "label": truth_of({"text": free[1].text})},
            ]
        },
        format="json",
    )
    assert marked.status_code == 200 and marked.json() == {"updated": 2, "errors": []}
    assert (
        api["lead"]
        .patch(f"/api/projects/{pid}/", {"gold_fraction": 0.5}, format="json")
        .status_code
        == 200
    )
    gold_ids = {free[0].pk, free[1].pk}

    def answer(name: str, item: dict) -> str:  # type: ignore[type-arg]
        truth = truth_of(item)
        wrong = LABELS[(LABELS.index(truth) + 1) % 3]
        return wrong if item["id"] == free[1].pk else truth  # one gold answer wrong

    seen = _drain({"ann1": api["ann1"]}, pid, answer)
    assert gold_ids <= set(seen["ann1"]) and len(seen["ann1"]) == len(set(seen["ann1"]))
    for item in Item.objects.filter(pk__in=gold_ids):
        assert (item.state, item.label) == ("gold", None)  # not a training label
    stats = api["ann1"].get(f"/api/projects/{pid}/annotators/").json()
    assert len(stats) == 1 and stats[0]["annotator"] == "ann1"
    assert stats[0]["gold_items"] == 2 and stats[0]["gold_accuracy"] == 0.5
    assert stats[0]["items"] == 16 and stats[0]["median_seconds"] is not None
    gold = api["lead"].get(f"/api/projects/{pid}/agreement/").json()["gold"]
    assert gold == [{"annotator": "ann1", "n": 2, "accuracy": 0.5}]


def test_a_gold_hand_out_looks_like_any_other(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(ANNOTATORS, n=12, overlap=1, batch_size=6, holdout_fraction=0)
    pid = project.pk
    gold_item = Item.objects.filter(project=project, state="pool").order_by("id").first()
    assert gold_item is not None
    api["lead"].post(
        f"/api/projects/{pid}/gold/",
        {"items": [{"item": gold_item.pk, "label": "pets"}]},
        format="json",
    )
    assert (
        api["lead"]
        .patch(f"/api/projects/{pid}/", {"gold_fraction": 0.5}, format="json")
        .status_code
        == 200
    )
    payloads = []
    for _ in range(8):
        handed = api["ann1"].get(f"/api/projects/{pid}/next/").json()
        payloads.append(handed)
        api["ann1"].post(
            f"/api/projects/{pid}/annotations/",
            {"item": handed["item"]["id"], "label": "sport"},
            format="json",
        )
    gold = [p for p in payloads if p["item"]["id"] == gold_item.pk]
    normal = [p for p in payloads if p["item"]["id"] != gold_item.pk]
    assert len(gold) == 1 and normal
    assert set(gold[0]) == set(normal[0]) and set(gold[0]["item"]) == set(normal[0]["item"])
    assert gold[0]["batch"] is not None and gold[0]["batch"]["number"] in {
        p["batch"]["number"] for p in normal
    }


def test_gold_marking_reports_bad_entries(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(ANNOTATORS, n=12, batch_size=6)
    api["ann1"].get(f"/api/projects/{project.pk}/next/")
    queued = Item.objects.filter(project=project, state="queued").first()
    free = Item.objects.filter(project=project, state="pool").first()
    assert queued is not None and free is not None
    url = f"/api/projects/{project.pk}/gold/"
    bad = api["lead"].post(
        url,
        {
            "items": [
                {"item": queued.pk, "label": "pets"},
                {"item": 10**9, "label": "pets"},
                {"item": free.pk, "label": "astrology"},
            ]
        },
        format="json",
    )
    assert bad.status_code == 400
    assert [e["item"] for e in bad.json()["errors"]] == [queued.pk, 10**9, free.pk]
    ok = api["lead"].post(url, {"items": [{"item": free.pk, "label": "pets"}]}, format="json")
    assert ok.status_code == 200
    assert api["lead"].get(url).json() == [
        {"item": free.pk, "label": "pets", "labels": None, "spans": None, "state": "gold"}
    ]
    api["lead"].post(url, {"items": [{"item": free.pk, "label": None}]}, format="json")
    free.refresh_from_db()
    assert (free.state, free.gold_label) == ("pool", None)


def test_annotator_stats_lead_sees_everyone_annotator_only_self(  # type: ignore[no-untyped-def]
    api, new_project
):
    project = new_project(ANNOTATORS, overlap=2, batch_size=6, holdout_fraction=0)
    _drain(
        {"ann1": api["ann1"], "ann2": api["ann2"]},
        project.pk,
        lambda name, item: truth_of(item) if name == "ann1" or item["id"] % 2 else "sport",
    )
    rows = {
        r["annotator"]: r for r in api["lead"].get(f"/api/projects/{project.pk}/annotators/").json()
    }
    assert set(rows) == {"lead", "ann1", "ann2", "reviewer"}
    assert rows["ann1"]["items"] == rows["ann2"]["items"] == 12
    assert rows["reviewer"]["items"] == 0 and rows["reviewer"]["median_seconds"] is None
    assert rows["ann1"]["consensus_items"] > 0
    assert rows["ann1"]["consensus_agreement"] >= rows["ann2"]["consensus_agreement"]
    own = api["ann2"].get(f"/api/projects/{project.pk}/annotators/").json()
    assert [r["annotator"] for r in own] == ["ann2"]


def test_outsider_gets_404_and_annotator_403_on_quality_urls(api, new_project):  # type: ignore[no-untyped-def]
    project = new_project(ANNOTATORS, n=6, overlap=2, batch_size=6)
    item = _tie_item(api, project)
    base = f"/api/projects/{project.pk}"
    for url in ("agreement/", "annotators/", "review/", "gold/"):
        assert api["outsider"].get(f"{base}/{url}").status_code == 404, url
    for url, body in (
        ("review/", {"item": item.pk, "label": "pets"}),
        ("gold/", {"items": [{"item": item.pk, "label": "pets"}]}),
    ):
        assert api["outsider"].post(f"{base}/{url}", body, format="json").status_code == 404
        assert api["ann1"].post(f"{base}/{url}", body, format="json").status_code == 403
    for url in ("agreement/", "review/", "gold/"):
        assert api["ann1"].get(f"{base}/{url}").status_code == 403, url
    assert api["reviewer"].get(f"{base}/review/").status_code == 200
    assert api["reviewer"].post(f"{base}/gold/", {"items": []}, format="json").status_code == 403
    item.refresh_from_db()
    assert item.state == "review"


def test_schema_documents_the_quality_endpoints(client):  # type: ignore[no-untyped-def]
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for name in ("agreement", "annotators", "review", "gold"):
        assert f"/api/projects/{{project_id}}/{name}/" in paths, name
    assert "post" in paths["/api/projects/{project_id}/review/"]
