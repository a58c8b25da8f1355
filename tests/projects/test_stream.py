"""Stream mode through the HTTP API (PRODUCT.md §6), retrains run in-process.

tests/projects/test_stream_worker.py runs the same loop against a real worker.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from projects import tasks
from projects.models import Batch, Item, Membership, ModelVersion, Project
from projects.pool import features
from projects.stream import buffer
from projects.stream import services as stream
from projects.stream.buffer import stream_features_flush
from projects.training import services as training_services

pytestmark = pytest.mark.django_db

PETS = ["the cat purrs on the warm mat", "a kitten chased the cat toy", "my cat sleeps all day"]
MONEY = [
    "stocks fell on the market today",
    "the bank raised interest rates",
    "bond yields and stock prices rose",
]


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    # Retrains and feature preparation run here, in-process: a transaction=True test
    # commits, and a real worker an earlier test started (tests/conftest.py) would
    # otherwise take their messages, with files of its own. The database still records
    # the owed retrain.
    for task in ("retrain", "pool_prepare"):
        monkeypatch.setattr(f"projects.tasks.{task}.delay", lambda *args, **kwargs: None)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    yield
    # Project ids restart with the next test's database: its project 1 must get
    # neither these feature rows nor this model.
    stream_features_flush()
    training_services.load_model.cache_clear()


def make_project(api, kind: str = "text", budget: float = 0.2) -> Project:  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/",
        {
            "name": "Stream",
            "kind": kind,
            "labels": ["pets", "money"],
            "batch_size": 5,
            "stream": {"budget": budget},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    for name, role in (("ann1", "annotator"), ("reviewer", "reviewer")):
        assert (
            api["lead"]
            .post(f"/api/projects/{pid}/members/", {"username": name, "role": role}, format="json")
            .status_code
            == 201
        )
    return Project.objects.get(pk=pid)


def train_now(api, project: Project) -> None:  # type: ignore[no-untyped-def]
    """Import seed labels and run the owed retrain in-process, as the worker would."""
    rows = [f"{t} {i},pets" for i, t in enumerate(PETS * 4)]
    rows += [f"{t} {i},money" for i, t in enumerate(MONEY * 4)]
    csv = "text,label\n" + "\n".join(rows) + "\n"
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": SimpleUploadedFile("s.csv", csv.encode())}
    )
    assert response.status_code == 201
    owed = ModelVersion.objects.get(project=project, status="pending")
    assert tasks.retrain(owed.pk)


def post(api, project: Project, who: str = "ann1", **body: object):  # type: ignore[no-untyped-def]
    return api[who].post(f"/api/projects/{project.pk}/stream/", body, format="json")


def test_cold_start_queries_the_first_item_into_a_batch(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    response = post(api, project, text="a cat on a mat")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["query"] is True and body["score"] is None and body["prediction"] is None
    item = Item.objects.get(pk=body["item"])
    assert item.from_stream and item.state == Item.State.QUEUED and item.text == "a cat on a mat"
    assert item.batch is not None and item.batch.state == Batch.State.OPEN
    got = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]
    assert got["id"] == item.pk
    # without a model the budget still holds: 0.2 of 50 arrivals, give or take one
    decisions = [post(api, project, text=f"arrival {i}").json()["query"] for i in range(49)]
    assert sum(decisions) + 1 <= 0.2 * 50 + 1


def test_budget_holds_over_500_arrivals_and_skipped_items_keep_the_prediction(api):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=0.1)
    train_now(api, project)
    rng = np.random.default_rng(0)
    answers = []
    for i in range(500):
        words = PETS if rng.random() < 0.5 else MONEY
        answers.append(post(api, project, text=f"{words[i % 3]} number {i}").json())
    queried = [a for a in answers if a["query"]]
    assert 0.05 * 500 <= len(queried) <= 0.1 * 500 + 1
    assert all(a["prediction"] in ("pets", "money") for a in answers)
    assert all(0.0 <= a["score"] <= 1.0 for a in answers)
    assert {a["model_version"] for a in answers} == {1}
    skipped = Item.objects.filter(pk__in=[a["item"] for a in answers if not a["query"]])
    assert skipped.count() == 500 - len(queried)
    assert set(skipped.values_list("state", flat=True)) == {Item.State.PREDICTED}
    by_id = {a["item"]: a["prediction"] for a in answers}
    for item in skipped:
        assert project.labels[item.prediction] == by_id[item.pk]
    waiting = Item.objects.filter(pk__in=[a["item"] for a in queried])
    assert set(waiting.values_list("state", flat=True)) <= {Item.State.POOL, Item.State.QUEUED}
    project.refresh_from_db()
    assert project.stream_state["seen"] == 500 and project.stream_state["queried"] == len(queried)
    # the model understood the stream: most money texts are predicted money
    texts = dict(Item.objects.filter(project=project).values_list("id", "text"))
    money = [a for a in answers if "stock" in texts[a["item"]]]
    assert money and np.mean([a["prediction"] == "money" for a in money]) > 0.8


def test_queried_items_head_the_next_batch_when_the_open_one_is_full(api):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=1.0)
    train_now(api, project)
    answers = [post(api, project, text=f"unseen words {i}").json() for i in range(40)]
    assert sum(a["query"] for a in answers) > project.batch_size
    open_batch = Batch.objects.get(project=project, state=Batch.State.OPEN)
    assert open_batch.size == project.batch_size
    queued = Item.objects.filter(project=project, from_stream=True, state=Item.State.POOL)
    assert queued.exists()
    assert all((s or 0) >= stream.QUEUE_SCORE for s in queued.values_list("score", flat=True))


def test_stream_features_are_stored_for_the_retrain(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    train_now(api, project)
    ids = [post(api, project, text=f"{MONEY[1]} {i}").json()["item"] for i in range(7)]
    stream_features_flush()
    table = features.features_load(project.pk)
    assert table is not None and table.missing(np.array(ids)).size == 0


def test_stream_stats_show_arrivals_rate_and_predicted_labels(api):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=0.1)
    train_now(api, project)
    for i in range(30):
        post(api, project, text=f"{PETS[i % 3] if i < 20 else MONEY[i % 3]} {i}")
    stats = api["ann1"].get(f"/api/projects/{project.pk}/stream/stats/").json()
    assert stats["arrivals"] == 30 and stats["stored"] == 30 and stats["budget"] == 0.1
    assert stats["query_rate"] <= 0.1 + 1 / 30
    assert stats["predicted"]["pets"] >= 15 and stats["predicted"]["money"] >= 5
    assert sum(b["arrivals"] for b in stats["timeline"]) == 30
    assert stats["timeline"][0]["unit"] == "second"
    assert api["outsider"].get(f"/api/projects/{project.pk}/stream/stats/").status_code == 404


def test_stream_rejects_bad_input_clearly(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    assert post(api, project).status_code == 400
    assert "text" in post(api, project, text="   ").json()
    assert post(api, project, text=["a list"]).status_code == 400
    assert post(api, project, text="ok", meta="not an object").status_code == 400
    assert post(api, project, "outsider", text="x").status_code == 404
    assert post(api, project, "reviewer", text="x").status_code == 403
    assert (
        api["lead"].post("/api/projects/999999/stream/", {"text": "x"}, format="json").status_code
        == 404
    )
    assert not Item.objects.filter(project=project).exists()
    project.state = Project.State.ARCHIVED
    project.save()
    assert post(api, project, text="late").status_code == 409


def test_vector_stream_checks_the_feature_length(api):  # type: ignore[no-untyped-def]
    project = make_project(api, kind="vector")
    first = post(api, project, features=[0.1, 0.2, 0.3])
    assert first.status_code == 200
    wrong = post(api, project, features=[0.1, 0.2])
    assert wrong.status_code == 400 and "expected 3 features" in wrong.json()["features"][0]
    assert post(api, project, features=[0.1, "x", 0.3]).status_code == 400
    assert post(api, project, features=[]).status_code == 400
    assert post(api, project, text="no features").status_code == 400
    assert Item.objects.filter(project=project).count() == 1


def png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, "PNG")
    return out.getvalue()


def test_image_stream_takes_a_multipart_image(api, settings):  # type: ignore[no-untyped-def]
    project = make_project(api, kind="image")
    url = f"/api/projects/{project.pk}/stream/"
    response = api["ann1"].post(
        url,
        {"image": SimpleUploadedFile("x.png", png("red")), "meta": '{"camera": 2}'},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    item = Item.objects.get(pk=response.json()["item"])
    assert item.meta == {"camera": 2} and item.image.startswith(f"project_{project.pk}/")
    image_url = f"/api/projects/{project.pk}/items/{item.pk}/image/"
    assert api["ann1"].get(image_url + "?thumb=1")["Content-Type"] == "image/webp"
    broken = api["ann1"].post(
        url, {"image": SimpleUploadedFile("y.png", b"\x89PNG broken")}, format="multipart"
    )
    assert broken.status_code == 400 and "image" in broken.json()
    missing = api["ann1"].post(url, {"meta": "{}"}, format="multipart")
    assert missing.status_code == 400
    assert Item.objects.filter(project=project).count() == 1
    assert len(list((settings.MEDIA_ROOT / f"project_{project.pk}").iterdir())) == 2


# -- every post looks up access, model and stream state afresh ----------------------------


def test_a_new_model_version_answers_the_very_next_post(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    train_now(api, project)
    assert post(api, project, text="a cat naps").json()["model_version"] == 1
    owed = training_services.retrain_request(project=project, trigger="test")
    assert tasks.retrain(owed.pk)
    assert post(api, project, text="a cat naps again").json()["model_version"] == 2


def test_a_removed_member_or_lowered_role_is_refused_at_the_next_post(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    assert post(api, project, text="first").status_code == 200
    members = f"/api/projects/{project.pk}/members/"
    assert (
        api["lead"]
        .post(members, {"username": "ann1", "role": "reviewer"}, format="json")
        .status_code
        == 201
    )
    assert post(api, project, text="as a reviewer").status_code == 403
    assert (
        api["lead"]
        .post(members, {"username": "ann1", "role": "annotator"}, format="json")
        .status_code
        == 201
    )
    assert post(api, project, text="an annotator again").status_code == 200
    Membership.objects.filter(project=project, user__username="ann1").delete()  # the admin page
    assert post(api, project, text="removed").status_code == 404
    assert Item.objects.filter(project=project).count() == 2


def test_a_deleted_token_is_refused_at_the_next_post(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    assert post(api, project, text="first").status_code == 200
    Token.objects.filter(user__username="ann1").delete()
    assert post(api, project, text="revoked").status_code == 401
    assert Item.objects.filter(project=project).count() == 1


def test_archiving_a_remembered_project_closes_its_stream(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    assert post(api, project, text="first").status_code == 200
    Project.objects.filter(pk=project.pk).update(state=Project.State.ARCHIVED)
    assert post(api, project, text="late").status_code == 409
    Project.objects.filter(pk=project.pk).update(state=Project.State.COLLECTING)
    assert post(api, project, text="reopened").status_code == 200


def test_the_decision_continues_from_a_state_another_process_wrote(api):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=0.5)
    train_now(api, project)
    for i in range(5):
        post(api, project, text=f"{PETS[i % 3]} {i}")
    # another web process decided meanwhile: this one's remembered state is out of date
    elsewhere = {"threshold": 0.25, "seen": 1000, "queried": 500}
    Project.objects.filter(pk=project.pk).update(stream_state=elsewhere)
    assert post(api, project, text="a cat and a stock").json()["query"] is False  # budget spent
    project.refresh_from_db()
    assert project.stream_state["seen"] == 1001 and project.stream_state["queried"] == 500


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_count_every_arrival_and_query_exactly_once(api):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=0.3)
    train_now(api, project)
    key = Token.objects.get(user__username="ann1").key

    def poster(k: int) -> list[dict[str, object]]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            return [
                client.post(
                    f"/api/projects/{project.pk}/stream/",
                    {"text": f"{(PETS + MONEY)[(k + i) % 6]} {k} {i}"},
                    format="json",
                ).json()
                for i in range(40)
            ]
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        answers = [a for chunk in pool.map(poster, range(4)) for a in chunk]
    project.refresh_from_db()
    queried = [a for a in answers if a["query"]]
    assert project.stream_state["seen"] == len(answers) == 160
    assert project.stream_state["queried"] == len(queried) <= 0.3 * 160 + 1
    items = Item.objects.filter(project=project, from_stream=True)
    assert items.count() == 160
    assert items.exclude(state=Item.State.PREDICTED).count() == len(queried)


def test_buffered_rows_of_an_old_representation_are_dropped(monkeypatch):  # type: ignore[no-untyped-def]
    """Rows buffered before a representation change never reach the new one's shards."""
    written: list[tuple[int, np.ndarray, np.ndarray]] = []
    monkeypatch.setattr(
        buffer.features, "features_add", lambda pid, ids, X: written.append((pid, ids, X))
    )
    rows = buffer._FeatureBuffer()
    rows.add(987654, np.array([1, 2]), np.ones((2, 43), dtype=np.float32))
    rows.add(987654, np.array([3]), np.ones((1, 8), dtype=np.float32))
    rows.flush()
    assert [(pid, ids.tolist(), X.shape) for pid, ids, X in written] == [(987654, [3], (1, 8))]
