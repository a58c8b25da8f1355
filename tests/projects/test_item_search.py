"""The item browser's search words (`projects.item_search`): owed by every insert of
items, written by a worker afterwards, and never missed by a search meanwhile."""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone

from projects import item_search
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.item_selectors import ItemFilters, items_filtered
from projects.models import Item, ItemWords, ModelVersion, Project

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    return django_capture_on_commit_callbacks


@pytest.fixture
def project() -> Project:
    return Project.objects.create(name="words", kind="text", labels=["a", "b"])


def _import(project: Project, texts: list[str]) -> None:
    rows = (ParsedRow(line=i, text=t) for i, t in enumerate(texts))
    ingest.items_import(project=project, rows=rows)


def _found(project: Project, search: str) -> list[str]:
    project.refresh_from_db()
    items = items_filtered(project, ItemFilters(search=search))
    return sorted(items.values_list("text", flat=True))


def test_an_import_owes_its_words_and_search_finds_its_items_meanwhile(project) -> None:  # type: ignore[no-untyped-def]
    _import(project, ["red apple", "green apple", "red car"])
    project.refresh_from_db()
    assert project.words_owed == 1 and not ItemWords.objects.exists()
    assert _found(project, "red") == ["red apple", "red car"]  # from the text, read now

    assert item_search.words_write(project.pk) == 3
    project.refresh_from_db()
    assert project.words_owed == 0 and ItemWords.objects.count() == 3
    assert _found(project, "red") == ["red apple", "red car"]  # from the written words
    assert _found(project, "apple -green") == ["red apple"]
    assert item_search.words_write(project.pk) == 0  # nothing left: nothing written twice


def test_once_written_a_search_reads_words_not_texts(project) -> None:  # type: ignore[no-untyped-def]
    _import(project, ["red apple", "green apple"])
    item_search.words_write(project.pk)
    project.refresh_from_db()
    plan = items_filtered(project, ItemFilters(search="red")).explain()
    assert "projects_itemwords" in plan and "to_tsvector" not in plan, plan
    with connection.cursor() as cursor:  # the words' index serves a match of many items
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_nestloop = off")
        plan = items_filtered(project, ItemFilters(search="red")).explain()
    assert "item_words_search" in plan, plan


def test_a_debt_incurred_while_writing_is_paid_before_it_is_cleared(project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Items that arrive while a pass writes (their insert committed after its reads)
    are written by a next pass: the pass's compare-and-set does not clear their debt."""
    _import(project, ["one"])
    _then_once(monkeypatch, "_written_from", lambda: _import(project, ["two"]))
    assert item_search.words_write(project.pk) == 2  # the second pass skips "one"
    project.refresh_from_db()
    assert (project.words_owed, project.words_from) == (0, None)
    assert ItemWords.objects.filter(item__project=project).count() == 2


def test_only_the_first_debt_sends_the_worker(project, monkeypatch, on_commit) -> None:  # type: ignore[no-untyped-def]
    sent: list[int] = []
    monkeypatch.setattr(item_search, "task_send", lambda task, pk: sent.append(pk) or True)
    with on_commit(execute=True):
        item_search.words_owe(project.pk, 10)
    with on_commit(execute=True):
        item_search.words_owe(project.pk, 7)  # the worker sent first writes these too
    assert sent == [project.pk]
    project.refresh_from_db()
    assert (project.words_owed, project.words_from) == (2, 7)
    assert item_search.words_resend() == 0  # owed only just now: its worker is on the way
    Project.objects.filter(pk=project.pk).update(words_since=timezone.now() - timedelta(hours=1))
    assert item_search.words_resend() == 1 and sent == [project.pk, project.pk]


def test_a_second_writer_leaves_the_words_to_the_first(project) -> None:  # type: ignore[no-untyped-def]
    """Another session holds the project's writer lock: this run writes nothing (the
    holder passes until nothing is owed, this debt included)."""
    _import(project, ["one"])
    key = [item_search._WORDS_LOCK, project.pk]
    holder = psycopg2.connect(**_dsn())
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
            assert item_search.words_write(project.pk) == 0
            # Let go here: close() returns before the server's session has ended.
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    finally:
        holder.close()
    assert item_search.words_write(project.pk) == 1
    project.refresh_from_db()
    assert (project.words_owed, project.words_from, project.words_since) == (0, None, None)


def test_a_debt_after_the_clear_but_before_the_release_is_paid(project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An insert whose message met the lock still held (after the debt was cleared) is
    written by the holder once it lets the lock go."""
    _import(project, ["one"])
    _then_once(monkeypatch, "_paid", lambda: _import(project, ["two"]))
    assert item_search.words_write(project.pk) == 2
    assert ItemWords.objects.filter(item__project=project).count() == 2


def _then_once(monkeypatch, name: str, meanwhile) -> None:  # type: ignore[no-untyped-def]
    """`item_search.<name>` runs `meanwhile` after its first call returns."""
    real = getattr(item_search, name)
    done: list[bool] = []

    def wrapped(*args):  # type: ignore[no-untyped-def]
        result = real(*args)
        if not done:
            done.append(True)
            meanwhile()
        return result

    monkeypatch.setattr(item_search, name, wrapped)


def _dsn() -> dict[str, object]:
    settings = connection.settings_dict
    return {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "host": settings["HOST"],
        "port": settings["PORT"],
        "password": settings["PASSWORD"],
    }


def test_words_go_with_their_items(project) -> None:  # type: ignore[no-untyped-def]
    _import(project, ["a word"])
    item_search.words_write(project.pk)
    Item.objects.filter(project=project).delete()
    assert not ItemWords.objects.exists()


def test_stream_arrivals_owe_their_words(api, monkeypatch, on_commit) -> None:  # type: ignore[no-untyped-def]
    from tests.projects.test_stream import make_project, post

    sent: list[int] = []
    monkeypatch.setattr(item_search, "task_send", lambda task, pk: sent.append(pk) or True)
    project = make_project(api)
    with on_commit(execute=True):
        assert post(api, project, text="a cat on a mat").status_code == 200
        assert post(api, project, text="a dog on a log").status_code == 200
    assert sent == [project.pk]
    assert _found(project, "cat") == ["a cat on a mat"]
    item_search.words_write(project.pk)
    assert ItemWords.objects.filter(item__project=project).count() == 2
    assert _found(project, "dog") == ["a dog on a log"]


def test_an_imports_words_wait_for_its_first_model(users, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Written beside the first model, they slowed it on two cores: pool_prepare leaves
    them to the end of the retrain the import's seed labels owe, which sends them."""
    from projects import services, tasks

    project = services.project_create(
        user=users["lead"], name="first model", kind="text", labels=["a", "b"]
    )
    sent: list[int] = []
    monkeypatch.setattr(item_search, "task_send", lambda task, pk: sent.append(pk) or True)
    words = ["apple pie", "apple tart", "car engine", "car wheel"]
    rows = [
        ParsedRow(line=i, text=f"{w} {i}", label=("a" if w.startswith("apple") else "b"))
        for i, w in enumerate(words * 3)
    ]
    rows += [ParsedRow(line=100 + i, text=f"{w} unlabelled {i}") for i, w in enumerate(words)]
    ingest.items_import(project=project, rows=iter(rows))
    ingest.pool_prepared(project_id=project.pk)
    assert not ItemWords.objects.exists() and sent == []
    owed = ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
    assert tasks.retrain(owed.pk)
    assert sent == [project.pk]  # the retrain's end sent the writer
    assert item_search.words_write(project.pk) == len(rows)
    item_search.words_due(project.pk)
    assert sent == [project.pk]  # nothing owed: nothing sent


def test_an_item_whose_text_the_admin_edits_is_found_by_its_new_text(project) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from django.contrib.admin.sites import site

    _import(project, ["old words"])
    item_search.words_write(project.pk)
    item = Item.objects.get(project=project)
    item.text = "new words"
    edited = SimpleNamespace(changed_data=["text"])
    site._registry[Item].save_model(request=None, obj=item, form=edited, change=True)
    assert _found(project, "new") == ["new words"]  # owed: read from the text meanwhile
    item_search.words_write(project.pk)
    assert _found(project, "new") == ["new words"] and _found(project, "old") == []
