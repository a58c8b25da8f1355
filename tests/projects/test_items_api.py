"""GET /api/projects/{id}/items/: filters, orderings, cursor pages and access, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.pagination import Cursor

from projects import item_search, services
from projects.items_api import ItemCursorPagination
from projects.models import Annotation, Item, ItemWords, Project

pytestmark = pytest.mark.django_db

SCORES = [0.9, None, 0.5, 0.5, None, 0.1, 0.5, 0.9, None, 0.3, 0.5]


@pytest.fixture
def project(users) -> Project:  # type: ignore[no-untyped-def]
    """Eleven items with tied and missing scores, tied creation times, labels,
    predictions and annotations by two annotators."""
    project = services.project_create(
        user=users["lead"], name="Items", kind="text", labels=["cat", "dog"]
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    services.membership_add(project=project, username="ann2", role="annotator")
    services.membership_add(project=project, username="reviewer", role="reviewer")
    items = Item.objects.bulk_create(
        Item(
            project=project,
            text=f"A {'Cat' if i % 2 else 'dog'} photo {i}",
            score=score,
            prediction=i % 2,
            state=Item.State.LABELED if i < 4 else Item.State.POOL,
            label=("cat" if i % 2 else "dog") if i < 4 else None,
        )
        for i, score in enumerate(SCORES)
    )
    item_search.words_owe(project.pk, items[0].pk)  # as an import does
    item_search.words_write(project.pk)  # and a worker then
    tied = datetime(2026, 1, 1, tzinfo=UTC)
    Item.objects.filter(pk__in=[i.pk for i in items[::2]]).update(created_at=tied)
    for item in items[:4]:
        for name in ("ann1", "ann2") if item.pk % 2 else ("ann1",):
            Annotation.objects.create(
                project=project, item=item, annotator=users[name], label=item.label, confidence=4
            )
    return project


def _url(project: Project) -> str:
    return f"/api/projects/{project.pk}/items/"


def _walk(client: Any, url: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    response = client.get(url, {**params, "page_size": 3})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["results"]) <= 3
        rows += body["results"]
        if body["next"] is None:
            return rows
        response = client.get(body["next"])


# Ties by id: ascending under `-score` (the ranking order), the reverse under `score`.
ID_DESCENDING = {"id": False, "-id": True, "score": True, "-score": False}


def _expected(project: Project, ordering: str) -> list[int]:
    items = list(Item.objects.filter(project=project))
    field, descending = ordering.lstrip("-"), ordering.startswith("-")
    id_sign = -1 if ID_DESCENDING.get(ordering, descending) else 1

    def key(item: Item) -> tuple[Any, ...]:
        value = getattr(item, field)
        if value is None:  # unscored items last in both directions
            return (1, 0, id_sign * item.pk)
        if isinstance(value, datetime):
            value = value.timestamp()
        return (0, (-1 if descending else 1) * value, id_sign * item.pk)

    return [item.pk for item in sorted(items, key=key)]


@pytest.mark.parametrize("ordering", ["id", "-id", "score", "-score", "created_at", "-created_at"])
def test_pages_walk_every_item_once_in_order(api, project, ordering) -> None:  # type: ignore[no-untyped-def]
    rows = _walk(api["lead"], _url(project), ordering=ordering)
    assert [row["id"] for row in rows] == _expected(project, ordering)


def test_filtered_pages_walk_without_gaps(api, project) -> None:  # type: ignore[no-untyped-def]
    rows = _walk(api["reviewer"], _url(project), ordering="-score", search="cat")
    cats = Item.objects.filter(project=project, text__icontains="cat")
    assert sorted(row["id"] for row in rows) == sorted(cats.values_list("id", flat=True))
    assert len({row["id"] for row in rows}) == len(rows) == 5


def test_rows_carry_prediction_names_and_annotations(api, project) -> None:  # type: ignore[no-untyped-def]
    first = api["lead"].get(_url(project)).json()["results"][0]
    item = Item.objects.filter(project=project).order_by("id").first()
    assert item is not None
    assert first["text"] == item.text and "image_url" not in first
    assert first["prediction"] == "cat"  # code 0
    assert first["state"] == "labeled" and first["score"] == 0.9
    names = sorted(a["annotator"] for a in first["annotations"])
    assert names == (["ann1", "ann2"] if item.pk % 2 else ["ann1"])
    assert set(first["annotations"][0]) == {
        "annotator", "label", "labels", "spans", "confidence", "created_at"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"search": "CAT"}, 5),
        ({"search": "photo 10"}, 1),
        ({"state": "labeled"}, 4),
        ({"label": "dog"}, 2),
        ({"annotator": "ann1"}, 4),
        ({"annotator": "outsider"}, 0),
        ({"predicted": "cat"}, 6),
        ({"predicted": "dog", "state": "pool"}, 3),
        ({"search": "", "state": "", "ordering": ""}, 11),
    ],
)
def test_filters_narrow_the_list(api, project, params, count) -> None:  # type: ignore[no-untyped-def]
    response = api["lead"].get(_url(project), params)
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == count


def test_annotator_filter_names_who_annotated(api, project) -> None:  # type: ignore[no-untyped-def]
    rows = api["lead"].get(_url(project), {"annotator": "ann2"}).json()["results"]
    assert rows and all("ann2" in {a["annotator"] for a in row["annotations"]} for row in rows)


@pytest.mark.parametrize(
    "params",
    [
        {"state": "nonsense"},
        {"predicted": "bird"},
        {"ordering": "text"},
        {"ordering": "?"},
        {"search": "nul\x00"},
    ],
)
def test_bad_filters_get_400(api, project, params) -> None:  # type: ignore[no-untyped-def]
    assert api["lead"].get(_url(project), params).status_code == 400


def test_a_bad_cursor_gets_404(api, project) -> None:  # type: ignore[no-untyped-def]
    assert api["lead"].get(_url(project), {"cursor": "garbage"}).status_code == 404
    page = api["lead"].get(_url(project), {"ordering": "score", "page_size": 2}).json()
    other = page["next"].replace("ordering=score", "ordering=-id")
    assert api["lead"].get(other).status_code == 404


@pytest.mark.parametrize(
    ("ordering", "position"),
    [
        ("id", "id||99999999999999999999"),
        ("id", "id||-1"),
        ("score", "score|nan|1"),
        ("score", "score|inf|1"),
        ("created_at", "created_at|2026-01-01T00:00:00|1"),
        ("created_at", "created_at|9999-12-31T23:59:59-14:00|1"),
        ("created_at", "created_at|yesterday|1"),
    ],
)
def test_a_forged_cursor_gets_404(api, project, ordering, position) -> None:  # type: ignore[no-untyped-def]
    pagination = ItemCursorPagination()
    pagination.base_url = f"http://testserver{_url(project)}?ordering={ordering}"
    forged = pagination.encode_cursor(Cursor(offset=0, reverse=False, position=position))  # type: ignore[arg-type]
    assert api["lead"].get(forged).status_code == 404


def test_query_count_does_not_grow_with_page_size(api, project) -> None:  # type: ignore[no-untyped-def]
    counts = []
    for size in (2, 11):
        with CaptureQueriesContext(connection) as queries:
            response = api["lead"].get(_url(project), {"page_size": size})
        assert len(response.json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_image_items_have_an_image_url(api, users) -> None:  # type: ignore[no-untyped-def]
    project = services.project_create(user=users["lead"], name="I", kind="image", labels=["a"])
    item = Item.objects.create(project=project, image="x.png")
    row = api["lead"].get(_url(project)).json()["results"][0]
    assert row["image_url"] == f"/api/projects/{project.pk}/items/{item.pk}/image/"
    assert "text" not in row


def test_outsider_gets_404_for_project_items(api, project) -> None:  # type: ignore[no-untyped-def]
    assert api["outsider"].get(_url(project)).status_code == 404


def test_annotator_gets_403_for_project_items(api, project) -> None:  # type: ignore[no-untyped-def]
    assert api["ann1"].get(_url(project)).status_code == 403


def test_staff_see_project_items(api, project, make_user) -> None:  # type: ignore[no-untyped-def]
    api["lead"].force_authenticate(make_user("admin", staff=True))
    assert len(api["lead"].get(_url(project)).json()["results"]) == 11


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"score_min": "0.5"}, [0, 2, 3, 6, 7, 10]),
        ({"score_max": "0.3"}, [5, 9]),
        ({"score_min": "0.2", "score_max": "0.5"}, [2, 3, 6, 9, 10]),
        ({"holdout": "true"}, [1, 4]),
        ({"holdout": "false", "state": "labeled"}, [0, 2, 3]),
        ({"disagreement": "true"}, [3]),
        ({"disagreement": "false"}, list(range(11))),
    ],
)
def test_score_range_holdout_and_disagreement_filters(  # type: ignore[no-untyped-def]
    api, project, users, params, expected
) -> None:
    items = list(Item.objects.filter(project=project).order_by("id"))
    Item.objects.filter(pk__in=[items[1].pk, items[4].pk]).update(is_holdout=True)
    # Item 3's second annotator disagrees; item 1's two annotators agree.
    Annotation.objects.filter(item=items[3], annotator=users["ann2"]).delete()
    Annotation.objects.create(
        project=project, item=items[3], annotator=users["ann2"], label="dog", confidence=2
    )
    rows = _walk(api["lead"], _url(project), **params)
    assert sorted(row["id"] for row in rows) == [items[i].pk for i in expected]
    assert all(row["holdout"] == (row["id"] in (items[1].pk, items[4].pk)) for row in rows)


@pytest.mark.parametrize(
    "params", [{"score_min": "nan"}, {"score_max": "1e400"}, {"score_min": "x"}, {"holdout": "2"}]
)
def test_bad_score_bounds_and_flags_get_400(api, project, params) -> None:  # type: ignore[no-untyped-def]
    assert api["lead"].get(_url(project), params).status_code == 400


def test_annotators_get_403_for_project_items(api, project) -> None:  # type: ignore[no-untyped-def]
    assert api["ann1"].get(_url(project)).status_code == 403


@pytest.mark.postgres
@pytest.mark.parametrize("words", ["written", "owed"])
def test_search_matches_words_on_postgres(api, project, words) -> None:  # type: ignore[no-untyped-def]
    """The same matches whether the items' words are written or still owed (then the
    search reads their text)."""
    if words == "owed":
        ItemWords.objects.filter(item__project=project).delete()
        item_search.words_owe(project.pk, Item.objects.filter(project=project).earliest("pk").pk)

    def found(search: str) -> int:
        return len(_walk(api["lead"], _url(project), search=search))

    assert found("photo 1") == 1  # the words "photo" and "1", not "photo 10"
    assert found("cat") == 5 and found("CAT") == 5
    assert found("photo -cat") == 6  # web-search syntax: without the word
    assert found('"dog photo"') == 6
    assert found("ca") == 0  # words, not substrings


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("ordering", "index"),
    [
        ("-score", "item_project_score"),
        ("score", "item_project_score"),
        ("created_at", "item_project_created"),
        ("-created_at", "item_project_created"),
        ("id", "item_project_id"),
        ("-id", "item_project_id"),
    ],
)
def test_orderings_across_states_read_an_index_without_sorting(project, ordering, index) -> None:  # type: ignore[no-untyped-def]
    from projects.item_selectors import ORDERINGS, ItemFilters, items_filtered

    order = ORDERINGS[ordering]
    first = order.first(items_filtered(project, ItemFilters()))[0]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        # What is asked is whether an index gives this order, not which plan the table's
        # statistics favour (a small sort can win on them): a Sort stays only if needed.
        cursor.execute("SET LOCAL enable_sort = off")
        plan = first.order_by(*order.order_by())[:51].explain()
    assert index in plan and "Sort" not in plan, plan


def test_search_finds_a_case_insensitive_substring_on_sqlite(api, project) -> None:  # type: ignore[no-untyped-def]
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL matches words (test_search_matches_words_on_postgres)")
    assert len(_walk(api["lead"], _url(project), search="photo 1")) == 2
    assert len(_walk(api["lead"], _url(project), search="ca")) == 5
