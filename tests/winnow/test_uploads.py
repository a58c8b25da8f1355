"""Upload bodies are capped while Django reads them: 413, nothing spooled past the cap."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from projects.models import Item, Project

pytestmark = pytest.mark.django_db

CAP = 1000


@pytest.fixture
def project(api):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/", {"name": "Up", "kind": "text", "labels": ["a", "b"]}, format="json"
    )
    return Project.objects.get(pk=response.json()["id"])


@pytest.fixture
def spool(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Every file part goes to a temporary file in a folder the test can watch."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    return tmp_path


def csv_of(size: int) -> SimpleUploadedFile:
    body = b"text\n" + b"x" * (size - 6) + b"\n"
    assert len(body) == size
    return SimpleUploadedFile("p.csv", body)


@override_settings(WINNOW_MAX_UPLOAD_BYTES=CAP)
def test_an_upload_over_the_cap_gets_413_and_leaves_no_temporary_file(api, project, spool):  # type: ignore[no-untyped-def]
    response = api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": csv_of(CAP + 1)})
    assert response.status_code == 413
    assert response.json() == {"detail": f"The upload is larger than the {CAP}-byte limit."}
    assert list(spool.iterdir()) == []
    assert not Item.objects.filter(project=project).exists()


@override_settings(WINNOW_MAX_UPLOAD_BYTES=CAP)
def test_an_upload_at_the_cap_is_imported(api, project, spool):  # type: ignore[no-untyped-def]
    response = api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": csv_of(CAP)})
    assert response.status_code == 201, response.content
    assert Item.objects.filter(project=project).count() == 1


@override_settings(WINNOW_MAX_UPLOAD_BYTES=CAP)
def test_a_body_declaring_too_much_is_refused_before_it_is_read(api, project, spool):  # type: ignore[no-untyped-def]
    # The body is small but its Content-Length says 10 MB: nothing is read at all.
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/",
        {"file": csv_of(100)},
        CONTENT_LENGTH=str(10_000_000),
    )
    assert response.status_code == 413
    assert list(spool.iterdir()) == []


@override_settings(WINNOW_MAX_UPLOAD_BYTES=CAP)
def test_the_import_page_answers_413_with_the_limit(client, users, project, spool):  # type: ignore[no-untyped-def]
    client.force_login(users["lead"])
    response = client.post(f"/projects/{project.pk}/import/", {"file": csv_of(CAP * 5)})
    assert response.status_code == 413
    assert f"{CAP}-byte limit" in response.content.decode()
    assert list(spool.iterdir()) == []
    assert not Item.objects.filter(project=project).exists()
