"""The import page: a preview of the head before importing, a history, seed labels said."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from projects import services
from projects.ingest import parsers
from projects.models import ImportJob, Item, Project

pytestmark = pytest.mark.django_db

CSV = b"text,label,source\nfirst cat,a,web\nsecond dog,,mail\nthird,zebra,web\n"


def test_preview_of_a_cut_head_drops_the_partial_last_line() -> None:
    head = CSV + b"fourth row that was cut of"
    preview = parsers.preview_upload(
        head, "pool.csv", complete=False, kind="text", labels=["a", "b"], max_text_chars=100
    )
    assert preview.columns == ["text", "label", "source"]
    assert [r.text for r in preview.rows] == ["first cat", "second dog"]
    assert preview.rows[0].meta == {"source": "web"}
    assert preview.labelled == 1
    assert [e["line"] for e in preview.errors] == [4]  # the unknown label, not the cut line


def test_preview_lists_the_keys_of_jsonl_objects() -> None:
    head = b'{"text": "x", "label": "a"}\n{"text": "y", "lang": "en"}\n'
    preview = parsers.preview_upload(
        head, "pool.jsonl", complete=True, kind="text", labels=["a"], max_text_chars=100
    )
    assert preview.columns == ["text", "label", "lang"]


@pytest.fixture
def project(users: dict) -> Project:  # type: ignore[type-arg]
    return services.project_create(user=users["lead"], name="I", kind="text", labels=["a", "b"])


@pytest.fixture
def lead(users: dict) -> Client:  # type: ignore[type-arg]
    client = Client()
    client.force_login(users["lead"])
    return client


def test_preview_writes_nothing(lead: Client, project: Project) -> None:
    url = f"/projects/{project.pk}/import/preview/"
    page = lead.post(url, {"file": SimpleUploadedFile("pool.csv", CSV)}).content.decode()
    assert '<code class="column">source</code> (kept in meta)' in page
    assert "first cat" in page and "1 row has a label" in page
    assert not Item.objects.filter(project=project).exists()
    assert not ImportJob.objects.filter(project=project).exists()


def test_no_card_before_the_first_upload_then_history_and_seed_message(
    lead: Client, project: Project
) -> None:
    url = f"/projects/{project.pk}/import/"
    page = lead.get(url).content.decode()
    assert 'id="import-history"' not in page
    assert "card" not in _between(page, '<div id="import-result">', "</div>")
    done = lead.post(url, {"file": SimpleUploadedFile("pool.csv", CSV)}).content.decode()
    assert "1 of them had a label: they became seed labels" in done
    job = ImportJob.objects.get(project=project)
    assert (job.filename, job.created, job.skipped, job.seeded) == ("pool.csv", 2, 1, 1)
    history = lead.get(url).content.decode()
    assert 'id="import-history"' in history and "<td>pool.csv</td>" in history


def test_annotators_may_not_preview(users: dict, project: Project) -> None:  # type: ignore[type-arg]
    services.membership_add(project=project, username="ann1", role="annotator")
    client = Client()
    client.force_login(users["ann1"])
    answer = client.post(
        f"/projects/{project.pk}/import/preview/", {"file": SimpleUploadedFile("p.csv", CSV)}
    )
    assert answer.status_code == 403


def _between(page: str, start: str, end: str) -> str:
    head = page.index(start) + len(start)
    return page[head : page.index(end, head)]
