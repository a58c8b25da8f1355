"""Image ZIP import through the HTTP API: every rejection, the stored files, members-only images.

The worker step runs here in-process (`import_job_run`, what the Celery task calls);
tests/projects/test_images_worker.py runs it in a real worker.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from projects.ingest import bulk
from projects.ingest import images as image_import
from projects.models import ImportJob, Item, ModelVersion, Project
from projects.pool import features
from strategies.images import IMAGE_FEATURE_DIM

pytestmark = pytest.mark.django_db


def image_bytes(colour: str, fmt: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


CLASS_FOLDERS = {
    "cats/a.png": image_bytes("red"),
    "cats/b.jpg": image_bytes("orange", "JPEG"),
    "dogs/c.webp": image_bytes("blue", "WEBP"),
    "dogs/d.gif": image_bytes("green", "GIF"),
    "e.png": image_bytes("white"),  # top level: no seed label
}


@pytest.fixture(autouse=True)
def own_media(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Project ids restart with each test's database: keep each test's files apart."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FEATURES_ROOT = tmp_path / "features"


@pytest.fixture
def project(api, users):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/",
        {"name": "Pets", "kind": "image", "labels": ["cats", "dogs"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    assert (
        api["lead"]
        .post(
            f"/api/projects/{pid}/members/",
            {"username": "ann1", "role": "annotator"},
            format="json",
        )
        .status_code
        == 201
    )
    return Project.objects.get(pk=pid)


def post_zip(api, project, data: bytes, name: str = "pets.zip"):  # type: ignore[no-untyped-def]
    return api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": SimpleUploadedFile(name, data)}
    )


def media_files(project: Project) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / f"project_{project.pk}"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_class_folders_become_seed_labels_and_the_worker_step_adds_thumbnails_and_features(
    api, project
):  # type: ignore[no-untyped-def]
    response = post_zip(api, project, zip_of(CLASS_FOLDERS))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["created"] == 5 and body["skipped"] == 0 and body["errors"] == []
    items = Item.objects.filter(project=project).order_by("id")
    assert {i.meta["path"]: i.label for i in items} == {
        "cats/a.png": "cats",
        "cats/b.jpg": "cats",
        "dogs/c.webp": "dogs",
        "dogs/d.gif": "dogs",
        "e.png": None,
    }
    assert {i.label_source for i in items if i.label} == {"seed"}
    for item in items:  # stored under a generated name, never the user's path
        assert item.image.startswith(f"project_{project.pk}/")
        assert "cats" not in item.image and "dogs" not in item.image
        assert (Path(settings.MEDIA_ROOT) / item.image).is_file()

    job_url = f"/api/projects/{project.pk}/imports/{body['job']}/"
    pending = api["lead"].get(job_url).json()
    assert pending["status"] == "pending" and pending["total"] == 5 and pending["processed"] == 0

    assert image_import.import_job_run(job_id=body["job"])
    done = api["lead"].get(job_url).json()
    assert done["status"] == "done" and done["processed"] == 5 and done["progress"] == 1.0
    table = features.features_load(project.pk)
    assert table is not None
    ids = np.array([i.pk for i in items])
    rows: np.ndarray = np.asarray(table.rows(ids))
    assert table.missing(ids).size == 0 and rows.shape == (5, IMAGE_FEATURE_DIM)
    for item in items:
        image = Path(settings.MEDIA_ROOT) / item.image
        assert image.with_name(f"{image.stem}.thumb.webp").is_file()
    # seed labels arrived: a retrain is owed once the features are there
    assert ModelVersion.objects.filter(project=project, trigger="import").exists()
    # running the task again (a re-sent message) does nothing
    assert not image_import.import_job_run(job_id=body["job"])


def test_manifest_lines_give_labels_and_meta_and_bad_lines_are_reported(api, project):  # type: ignore[no-untyped-def]
    manifest = "\n".join(
        [
            json.dumps({"path": "x/one.png", "label": "dogs", "meta": {"source": "cam 1"}}),
            json.dumps({"path": "missing.png"}),
            "{oops",
        ]
    )
    data = zip_of(
        {
            "x/one.png": image_bytes("red"),
            "y/two.png": image_bytes("blue"),
            "manifest.jsonl": manifest.encode(),
        }
    )
    # folders x/ and y/ are not labels of the project: y/two.png is reported by name
    body = post_zip(api, project, data).json()
    assert body["created"] == 1
    errors = {(e["name"], e.get("line")): e["error"] for e in body["errors"]}
    assert "not an image in the ZIP" in errors[("manifest.jsonl", 2)]
    assert "not valid JSON" in errors[("manifest.jsonl", 3)]
    assert "unknown label 'y'" in errors[("y/two.png", None)]
    item = Item.objects.get(project=project)
    assert item.label == "dogs" and item.meta == {"source": "cam 1", "path": "x/one.png"}


def test_broken_image_is_reported_by_name_and_skipped(api, project):  # type: ignore[no-untyped-def]
    data = zip_of(
        {
            "cats/good.png": image_bytes("red"),
            "cats/broken.png": image_bytes("red")[:40],
            "dogs/notes.txt": b"not an image at all",
        }
    )
    response = post_zip(api, project, data)
    assert response.status_code == 202
    body = response.json()
    assert body["created"] == 1 and body["skipped"] == 2
    names = {e["name"]: e["error"] for e in body["errors"]}
    assert set(names) == {"cats/broken.png", "dogs/notes.txt"}
    assert "not an image" in names["dogs/notes.txt"]
    assert Item.objects.get(project=project).meta["path"] == "cats/good.png"
    assert ImportJob.objects.get(project=project).errors == body["errors"]


def test_only_broken_images_is_a_400_and_keeps_nothing(api, project):  # type: ignore[no-untyped-def]
    response = post_zip(api, project, zip_of({"a.png": b"\x89PNG\r\n\x1a\nnope"}))
    assert response.status_code == 400
    assert response.json()["errors"][0]["name"] == "a.png"
    assert not Item.objects.filter(project=project).exists() and media_files(project) == []


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../evil.png": image_bytes("red")}, "unsafe path"),
        ({"cats/../../evil.png": image_bytes("red")}, "unsafe path"),
        ({"/etc/evil.png": image_bytes("red")}, "unsafe path"),
        ({"C:/evil.png": image_bytes("red")}, "unsafe path"),
    ],
)
def test_zip_slip_is_refused_and_nothing_is_written(api, project, members, message):  # type: ignore[no-untyped-def]
    response = post_zip(api, project, zip_of({"cats/ok.png": image_bytes("red"), **members}))
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Item.objects.filter(project=project).exists()
    assert media_files(project) == []
    assert not (Path(settings.MEDIA_ROOT).parent / "evil.png").exists()


def test_zip_bomb_is_refused_before_extraction(api, project):  # type: ignore[no-untyped-def]
    bomb = zip_of({"cats/ok.png": image_bytes("red"), "cats/bomb.png": b"\0" * 20_000_000})
    assert len(bomb) < 100_000
    response = post_zip(api, project, bomb)
    assert response.status_code == 400
    assert "ZIP bomb" in response.json()["detail"]
    assert not Item.objects.filter(project=project).exists() and media_files(project) == []


def test_pixel_bomb_image_is_reported_by_name(api, project):  # type: ignore[no-untyped-def]
    with override_settings(WINNOW_MAX_IMAGE_PIXELS=10_000):
        response = post_zip(
            api,
            project,
            zip_of(
                {
                    "cats/small.png": image_bytes("red", size=(50, 50)),
                    "cats/huge.png": image_bytes("red", size=(200, 200)),
                }
            ),
        )
    assert response.status_code == 202
    errors = response.json()["errors"]
    assert errors == [{"name": "cats/huge.png", "error": errors[0]["error"]}]
    assert "over the limit of 10000" in errors[0]["error"]


def test_a_decompression_bomb_header_is_reported_by_name(api, project):  # type: ignore[no-untyped-def]
    """A PNG claiming 100,000² pixels is refused from its header, never decoded."""
    from tests.strategies.test_images import png_header_only

    response = post_zip(
        api,
        project,
        zip_of(
            {
                "cats/small.png": image_bytes("red", size=(50, 50)),
                "cats/bomb.png": png_header_only(100_000, 100_000),
            }
        ),
    )
    assert response.status_code == 202
    errors = response.json()["errors"]
    assert [e["name"] for e in errors] == ["cats/bomb.png"]
    assert "pixels" in errors[0]["error"]
    assert Item.objects.filter(project=project).count() == 1
    assert len(media_files(project)) == 1


@override_settings(WINNOW_MAX_ZIP_BYTES=5_000)
def test_zip_over_the_uncompressed_limit_is_refused(api, project):  # type: ignore[no-untyped-def]
    response = post_zip(
        api,
        project,
        zip_of({f"cats/{i}.png": image_bytes("red", size=(60, 60)) for i in range(40)}),
    )
    assert response.status_code == 400
    assert "over the limit of 5000" in response.json()["detail"]
    assert not Item.objects.filter(project=project).exists()


def test_a_file_that_is_not_a_zip_is_refused(api, project):  # type: ignore[no-untyped-def]
    response = post_zip(api, project, b"text,label\nhello,cats\n", name="pets.zip")
    assert response.status_code == 400
    assert "not a ZIP" in response.json()["detail"]


def test_failed_import_transaction_deletes_the_files_it_wrote(api, project, monkeypatch):  # type: ignore[no-untyped-def]
    def fail(*args: object, **kwargs: object) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(bulk, "items_insert", fail)
    with pytest.raises(RuntimeError):
        post_zip(api, project, zip_of(CLASS_FOLDERS))
    assert media_files(project) == []
    assert not ImportJob.objects.filter(project=project).exists()


def test_images_are_served_to_members_only(api, project, client):  # type: ignore[no-untyped-def]
    body = post_zip(api, project, zip_of(CLASS_FOLDERS)).json()
    image_import.import_job_run(job_id=body["job"])
    item = Item.objects.filter(project=project).first()
    assert item is not None
    url = f"/api/projects/{project.pk}/items/{item.pk}/image/"
    full = api["ann1"].get(url)
    assert full.status_code == 200 and full["Content-Type"].startswith("image/")
    thumb = api["ann1"].get(url + "?thumb=1")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
    assert api["outsider"].get(url).status_code == 404
    assert api["outsider"].get(url + "?thumb=1").status_code == 404
    assert client.get(url).status_code in (401, 403)  # anonymous
    # no public media URL: the stored path is not served by any route
    assert client.get(f"/media/{item.image}").status_code == 404
    assert client.get(f"/{item.image}").status_code == 404
    assert api["ann1"].get(f"/media/{item.image}").status_code == 404


def test_import_job_progress_is_for_the_lead_and_hidden_from_outsiders(api, project):  # type: ignore[no-untyped-def]
    job = post_zip(api, project, zip_of(CLASS_FOLDERS)).json()["job"]
    url = f"/api/projects/{project.pk}/imports/{job}/"
    assert api["outsider"].get(url).status_code == 404
    assert api["ann1"].get(url).status_code == 403
    assert api["lead"].get(f"/api/projects/{project.pk}/imports/{job + 99}/").status_code == 404


def test_image_demo_is_scikit_learns_digits_as_pngs(db):  # type: ignore[no-untyped-def]
    from projects import demo

    project = demo.demo_images_create()
    assert demo.demo_images_create().pk == project.pk  # idempotent
    assert project.kind == "image" and project.labels == [str(d) for d in range(10)]
    assert Item.objects.filter(project=project).count() == 1797
    assert project.memberships.filter(user__username="alice", role="annotator").exists()
    job = ImportJob.objects.get(project=project)
    assert image_import.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done" and job.processed == 1797
    first = Item.objects.filter(project=project).first()
    assert first is not None
    with Image.open(Path(settings.MEDIA_ROOT) / first.image) as img:
        assert img.format == "PNG" and img.size == (32, 32)
