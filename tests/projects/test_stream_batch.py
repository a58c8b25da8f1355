"""The stream's batch form, and the guarantees of the full Django and DRF stack, through HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from projects.models import Item, Project
from tests.projects.test_stream import MONEY, PETS, make_project, own_files, post, train_now

pytestmark = pytest.mark.django_db

__all__ = ["own_files"]  # the autouse fixture: files in tmp, caches cleared


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{(PETS + MONEY)[int(rng.integers(6))]} number {i}" for i in range(n)]


def post_batch(api, project: Project, items: object, who: str = "ann1"):  # type: ignore[no-untyped-def]
    return api[who].post(f"/api/projects/{project.pk}/stream/", {"items": items}, format="json")


def stored(project: Project) -> list[tuple[object, ...]]:
    rows = Item.objects.filter(project=project, from_stream=True).order_by("id")
    return list(rows.values_list("text", "vector", "state", "prediction", "score"))


def assert_same(singles: list[dict], batch: list[dict], a: Project, b: Project) -> None:  # type: ignore[type-arg]
    for one, many in zip(singles, batch, strict=True):
        assert (one["query"], one["prediction"]) == (many["query"], many["prediction"])
        assert one["score"] == pytest.approx(many["score"], abs=1e-9)
        assert one["model_version"] == many["model_version"]
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.stream_state["seen"] == b.stream_state["seen"] == len(singles)
    assert (
        a.stream_state["queried"] == b.stream_state["queried"] == sum(x["query"] for x in singles)
    )
    assert a.stream_state["threshold"] == pytest.approx(b.stream_state["threshold"], abs=1e-12)
    assert a.state == b.state
    one_rows, many_rows = stored(a), stored(b)
    assert [r[:2] + r[3:4] for r in one_rows] == [r[:2] + r[3:4] for r in many_rows]
    assert [r[2] == Item.State.PREDICTED for r in one_rows] == [
        r[2] == Item.State.PREDICTED for r in many_rows
    ]


def test_a_batch_decides_as_its_items_posted_one_after_another(api):  # type: ignore[no-untyped-def]
    one, many = make_project(api, budget=0.3), make_project(api, budget=0.3)
    train_now(api, one)
    train_now(api, many)
    arrivals = texts(120)
    singles = [post(api, one, text=t).json() for t in arrivals]
    batch: list[dict] = []  # type: ignore[type-arg]
    for start in (0, 7, 57):  # batches of several sizes continue from each other's state
        end = {0: 7, 7: 57, 57: 120}[start]
        response = post_batch(api, many, [{"text": t} for t in arrivals[start:end]])
        assert response.status_code == 200, response.content
        batch += response.json()["decisions"]
    assert 0 < sum(x["query"] for x in singles) < len(singles)  # both kinds of decision
    assert_same(singles, batch, one, many)


def test_a_cold_start_vector_batch_decides_as_single_posts(api):  # type: ignore[no-untyped-def]
    one, many = make_project(api, kind="vector"), make_project(api, kind="vector")
    vectors = np.random.default_rng(1).normal(size=(40, 3)).round(3).tolist()
    singles = [post(api, one, features=v).json() for v in vectors]
    response = post_batch(api, many, [{"features": v} for v in vectors])
    assert response.status_code == 200, response.content
    assert_same(singles, response.json()["decisions"], one, many)
    assert all(d["score"] is None and d["prediction"] is None for d in singles)


def test_batch_decisions_keep_the_order_posted(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    train_now(api, project)
    arrivals = texts(30, seed=3)
    body = [{"text": t, "meta": {"n": i}} for i, t in enumerate(arrivals)]
    decisions = post_batch(api, project, body).json()["decisions"]
    ids = [d["item"] for d in decisions]
    assert ids == sorted(ids) and len(set(ids)) == 30
    items = Item.objects.in_bulk(ids)
    assert [items[i].text for i in ids] == arrivals
    assert [items[i].meta for i in ids] == [{"n": i} for i in range(30)]
    for d in decisions:
        assert d["prediction"] == project.labels[items[d["item"]].prediction]
        assert (items[d["item"]].state == Item.State.PREDICTED) is (not d["query"])


def test_a_batch_of_a_thousand_is_taken_and_more_is_refused(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    too_many = post_batch(api, project, [{"text": f"t {i}"} for i in range(1001)])
    assert too_many.status_code == 400 and "1 to 1000 items" in str(too_many.json()["items"])
    assert post_batch(api, project, []).status_code == 400
    assert post_batch(api, project, {"text": "not a list"}).status_code == 400
    assert not Item.objects.filter(project=project).exists()
    full = post_batch(api, project, [{"text": f"t {i}"} for i in range(1000)])
    assert full.status_code == 200 and len(full.json()["decisions"]) == 1000
    project.refresh_from_db()
    assert project.stream_state["seen"] == 1000 == Item.objects.filter(project=project).count()


@pytest.mark.parametrize(
    ("kind", "items", "index", "field"),
    [
        ("text", [{"text": "fine"}, {"text": "also fine"}, {"text": "  "}], "2", "text"),
        ("text", [{"text": "fine"}, "not an object"], "1", "detail"),
        ("text", [{"text": "fine", "meta": []}], "0", "meta"),
        ("vector", [{"features": [1, 2]}, {"features": [1, 2, 3]}], "1", "features"),
        ("vector", [{"features": [1, 2]}, {"features": [1, "x"]}], "1", "features"),
    ],
)
def test_a_malformed_entry_is_named_by_its_index_and_nothing_is_written(
    api, kind, items, index, field
):  # type: ignore[no-untyped-def]
    project = make_project(api, kind=kind)
    response = post_batch(api, project, items)
    assert response.status_code == 400, response.content
    assert field in response.json()["items"][index]
    assert not Item.objects.filter(project=project).exists()
    project.refresh_from_db()
    assert not project.stream_state.get("seen")


def test_who_may_post_a_batch(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    body = [{"text": "a cat"}]
    assert post_batch(api, project, body, who="outsider").status_code == 404
    assert post_batch(api, project, body, who="reviewer").status_code == 403
    assert post_batch(api, project, body, who="ann1").status_code == 200
    assert post_batch(api, project, body, who="lead").status_code == 200
    Project.objects.filter(pk=project.pk).update(state=Project.State.ARCHIVED)
    assert post_batch(api, project, body).status_code == 409
    assert Item.objects.filter(project=project).count() == 2


def test_an_image_project_takes_one_image_per_post(api):  # type: ignore[no-untyped-def]
    project = make_project(api, kind="image")
    response = post_batch(api, project, [{"text": "x"}, {"text": "y"}])
    assert response.status_code == 400 and "image" in str(response.json())


# -- every post goes through Django's and DRF's checks ----------------------------------


@pytest.mark.parametrize(("body", "status"), [({"text": ""}, 400), ([1, 2], 400)])
def test_a_body_that_is_not_an_arrival_is_refused(api, body, status):  # type: ignore[no-untyped-def]
    project = make_project(api)
    response = api["ann1"].post(f"/api/projects/{project.pk}/stream/", body, format="json")
    assert response.status_code == status, response.content
    assert not Item.objects.filter(project=project).exists()


def test_a_bad_token_is_refused(api):  # type: ignore[no-untyped-def]
    project = make_project(api)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    response = client.post(f"/api/projects/{project.pk}/stream/", {"text": "x"}, format="json")
    assert response.status_code == 401 and "Invalid token" in response.json()["detail"]


def test_a_session_post_needs_the_csrf_token(api, users):  # type: ignore[no-untyped-def]
    project = make_project(api)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["ann1"])
    response = client.post(f"/api/projects/{project.pk}/stream/", {"text": "x"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not Item.objects.filter(project=project).exists()


def test_an_unknown_host_is_refused_and_answers_carry_the_security_headers(api, settings):  # type: ignore[no-untyped-def]
    project = make_project(api)
    settings.ALLOWED_HOSTS = ["winnow.example"]
    url = f"/api/projects/{project.pk}/stream/"
    bad = api["ann1"].post(url, {"text": "x"}, format="json", HTTP_HOST="evil.example")
    assert bad.status_code == 400
    good = api["ann1"].post(url, {"text": "x"}, format="json", HTTP_HOST="winnow.example")
    assert good.status_code == 200
    assert good["X-Frame-Options"] == "DENY" and good["X-Content-Type-Options"] == "nosniff"
    assert Item.objects.filter(project=project).count() == 1


def test_the_schema_describes_both_forms(client):  # type: ignore[no-untyped-def]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parts = schema["components"]["schemas"]

    def one_of(ref: dict[str, str]) -> set[str]:
        name = ref["$ref"].rsplit("/", 1)[1]
        return {s["$ref"].rsplit("/", 1)[1] for s in parts[name]["oneOf"]}

    operation = schema["paths"]["/api/projects/{project_id}/stream/"]["post"]
    content = operation["requestBody"]["content"]
    assert one_of(content["application/json"]["schema"]) == {"StreamInput", "StreamBatchInput"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert one_of(answer) == {"StreamDecision", "StreamDecisions"}
    assert parts["StreamBatchInput"]["properties"]["items"]["maxItems"] == 1000
    assert "decisions" in parts["StreamDecisions"]["properties"]
    assert "image" in content["multipart/form-data"]["schema"]["properties"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_keep_the_budget_exact(api):  # type: ignore[no-untyped-def]
    project = make_project(api, budget=0.2)
    train_now(api, project)
    key = Token.objects.get(user__username="ann1").key

    def poster(k: int) -> list[dict[str, object]]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            answers = []
            for b in range(5):
                body = {"items": [{"text": t} for t in texts(25, seed=10 * k + b)]}
                response = client.post(f"/api/projects/{project.pk}/stream/", body, format="json")
                assert response.status_code == 200, response.content
                answers += response.json()["decisions"]
            return answers
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        answers = [a for chunk in pool.map(poster, range(4)) for a in chunk]
    project.refresh_from_db()
    queried = [a for a in answers if a["query"]]
    assert project.stream_state["seen"] == len(answers) == 500
    assert project.stream_state["queried"] == len(queried) <= 0.2 * 500 + 1
    items = Item.objects.filter(project=project, from_stream=True)
    assert items.count() == 500 and len({a["item"] for a in answers}) == 500
    assert items.exclude(state=Item.State.PREDICTED).count() == len(queried)
