"""No item outlives its project, with no foreign key from items to projects in the
database: every insert holds the project row (`ingest.bulk.projects_hold`) and a
deletion locks it first (`services.project_remove`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from projects import services
from projects.ingest import bulk
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Item, Project
from winnow.errors import Conflict

WAIT = 10.0


def _project(name: str = "Held") -> Project:
    lead = get_user_model().objects.create_user(f"{name.lower()}-lead", password="x")
    return services.project_create(user=lead, name=name, kind="text", labels=["a", "b"])


def _rows(n: int) -> list[ParsedRow]:
    return [ParsedRow(line=i, text=f"text {i}") for i in range(n)]


@pytest.mark.django_db
def test_items_for_a_deleted_project_are_refused_and_none_is_added() -> None:
    project = _project()
    pk = project.pk
    services.project_remove(project)
    with pytest.raises(Conflict, match="deleted"):
        bulk.items_insert(pk, _rows(3))
    with pytest.raises(Conflict, match="deleted"):
        bulk.item_rows_insert([{"project_id": pk, "text": "late"}])
    assert not Item.objects.filter(project_id=pk).exists()


@pytest.mark.django_db
def test_removing_a_project_removes_its_items_and_leaves_the_others() -> None:
    gone, kept = _project("Gone"), _project("Kept")
    ingest.items_import(project=gone, rows=_rows(5))
    ingest.items_import(project=kept, rows=_rows(2))
    gone_pk = gone.pk
    services.project_remove(gone)
    assert not Item.objects.filter(project_id=gone_pk).exists()
    assert Item.objects.filter(project=kept).count() == 2


def _in_thread(body: Callable[[], object], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            body()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _second_waits(
    first: Callable[[], object],
    second: Callable[[], object],
    *,
    then: Callable[[], object] = lambda: None,
) -> list[BaseException]:
    """Run `first` in a transaction of its own thread and, while it is open, `second` in
    another thread, which must wait; then `then` in the first transaction, which commits.
    What either raised, once both have finished."""
    done_first, go_on = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def holding() -> None:
        with transaction.atomic():
            first()
            done_first.set()
            assert go_on.wait(WAIT)
            then()

    one = _in_thread(holding, errors)
    assert done_first.wait(WAIT)
    two = _in_thread(second, errors)
    two.join(0.5)
    assert two.is_alive(), "the second went ahead of the first's open transaction"
    go_on.set()
    one.join(WAIT)
    two.join(WAIT)
    assert not one.is_alive() and not two.is_alive()
    return errors


def _remove(pk: int) -> Callable[[], None]:
    return lambda: services.project_remove(Project.objects.get(pk=pk))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_deletion_waits_for_an_import_in_flight_then_removes_its_items() -> None:
    """Without the deletion's lock it would collect the items before the import commits
    and leave the import's rows behind, pointing at no project."""
    pk = _project().pk

    def importing() -> None:
        ingest.items_import(project=Project.objects.get(pk=pk), rows=_rows(4))

    errors = _second_waits(importing, _remove(pk))
    assert not errors, errors
    assert not Project.objects.filter(pk=pk).exists()
    assert not Item.objects.filter(project_id=pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_that_meets_a_deletion_waits_for_it_then_adds_nothing() -> None:
    pk = _project().pk
    errors = _second_waits(_remove(pk), lambda: bulk.items_insert(pk, _rows(4)))
    assert [type(e) for e in errors] == [Conflict], errors
    assert not Item.objects.filter(project_id=pk).exists()


@pytest.mark.django_db
def test_the_admin_deletes_a_project_as_the_app_does(  # type: ignore[no-untyped-def]
    rf, settings, tmp_path, django_capture_on_commit_callbacks
) -> None:
    """Its rows, then its files (Django's own admin deletion would leave those)."""
    from django.contrib.admin.sites import site

    settings.FEATURES_ROOT = str(tmp_path)
    project = _project()
    pk = project.pk
    ingest.items_import(project=project, rows=_rows(3))
    own = tmp_path / f"project_{pk}"
    own.mkdir()
    (own / "rows.npz").write_bytes(b"x")
    with django_capture_on_commit_callbacks(execute=True):
        site._registry[Project].delete_queryset(rf.post("/"), Project.objects.filter(pk=pk))
    assert not Project.objects.filter(pk=pk).exists()
    assert not Item.objects.filter(project_id=pk).exists()
    assert not own.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_that_moves_its_project_after_a_deletion_began_waiting_finishes() -> None:
    """An import holds the project row from its first insert and updates it (its state)
    after its last: a deletion queued between the two must not deadlock with it."""
    pk = _project().pk
    errors = _second_waits(
        lambda: bulk.items_insert(pk, _rows(3)),
        _remove(pk),
        then=lambda: Project.objects.filter(pk=pk).update(state=Project.State.COLLECTING),
    )
    assert not errors, errors
    assert not Project.objects.filter(pk=pk).exists()
    assert not Item.objects.filter(project_id=pk).exists()


@pytest.mark.django_db
def test_an_upload_whose_project_goes_while_it_is_read_is_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """409 over the API, 404 on the page: the project was deleted just before the rows
    went in (here by the hold's caller, as a concurrent deletion would)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from rest_framework.test import APIClient

    hold = bulk.projects_hold

    def deleted_first(project_ids):  # type: ignore[no-untyped-def]
        for pk in project_ids:
            services.project_remove(Project.objects.get(pk=pk))
        hold(project_ids)

    monkeypatch.setattr(bulk, "projects_hold", deleted_first)
    for answered in ("api", "page"):
        project = _project(f"Gone{answered}")
        lead = project.created_by
        upload = SimpleUploadedFile("rows.csv", b"text\nfirst\nsecond\n")
        if answered == "api":
            api = APIClient()
            api.force_authenticate(lead)
            response = api.post(f"/api/projects/{project.pk}/import/", {"file": upload})
            assert response.status_code == 409, response.content
            assert "deleted" in response.json()["detail"]
        else:
            page = Client()
            page.force_login(lead)
            response = page.post(f"/projects/{project.pk}/import/", {"file": upload})
            assert response.status_code == 404
        assert not Item.objects.filter(project_id=project.pk).exists()
