"""Crafted image ZIPs through the import API: a clear refusal, cheap for the request.

Each archive is a few kB to a few MB that would cost seconds of CPU and hundreds
of MB of memory or disk if the request inflated or decoded it. Each test asserts
the answer, that nothing was kept, and what the request spent: its Python memory
peak (tracemalloc, in-process) and, loosely, its time.
"""

from __future__ import annotations

import gc
import io
import time
import tracemalloc
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image

from projects.ingest import images as image_import
from projects.models import ImportJob, Item, Project
from tests.support.zips import Member, png_of_zeros, raw_zip, stored, zeros_member

pytestmark = pytest.mark.django_db

MiB = 1 << 20


@dataclass(frozen=True)
class Spent:
    seconds: float
    peak_bytes: int


@pytest.fixture(autouse=True)
def own_media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)


@pytest.fixture
def project(api):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/", {"name": "Pets", "kind": "image", "labels": ["cats"]}, format="json"
    )
    return Project.objects.get(pk=response.json()["id"])


def post_measured(api, project, data: bytes) -> tuple[Any, Spent]:  # type: ignore[no-untyped-def]
    """POST the ZIP; the body is encoded first so only the request's own work is measured."""
    body = encode_multipart(BOUNDARY, {"file": io.BytesIO(data)})
    url = f"/api/projects/{project.pk}/import/"
    gc.collect()
    tracemalloc.start()
    try:
        started = time.perf_counter()
        response = api["lead"].post(url, body, content_type=MULTIPART_CONTENT)
        spent = Spent(time.perf_counter() - started, tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    print(f"{len(data)} bytes uploaded: {spent.seconds:.3f} s, peak {spent.peak_bytes} bytes")
    return response, spent


def assert_cheap(spent: Spent, upload: bytes) -> None:
    # The test client holds a copy of the body; the request may add a few MB.
    assert spent.peak_bytes < len(upload) + 8 * MiB
    assert spent.seconds < 2


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_kept(project: Project) -> None:
    assert not Item.objects.filter(project=project).exists()
    assert not ImportJob.objects.filter(project=project).exists()
    assert media_files() == []
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).glob("*.upload*")) == []


def test_a_40k_square_png_is_refused_from_its_header(api, project):  # type: ignore[no-untyped-def]
    bomb = png_of_zeros(40_000, 40_000)  # 1.6 gigapixels in about 200 kB
    data = raw_zip([stored("cats/huge.png", bomb)])
    response, spent = post_measured(api, project, data)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["name"] == "cats/huge.png"
    assert "pixels" in error["error"]
    assert_nothing_kept(project)
    assert_cheap(spent, data)


def test_two_thousand_deflated_mebibytes_of_zeros_are_refused_unopened(api, project):  # type: ignore[no-untyped-def]
    # Each member is under the per-member ratio exemption; together they would
    # unpack 2,000 MiB from 2 MB.
    one = zeros_member("x", MiB)
    data = raw_zip(
        [Member(f"cats/{i}.png", one.payload, one.method, one.crc, MiB) for i in range(2000)]
    )
    response, spent = post_measured(api, project, data)
    assert response.status_code == 400
    assert "compressed suspiciously well" in response.json()["detail"]
    assert_nothing_kept(project)
    assert_cheap(spent, data)


def test_two_thousand_stored_mebibytes_that_are_not_there_are_refused(api, project):  # type: ignore[no-untyped-def]
    # A stored member holds as many bytes as it declares: these claim 2,000 MiB in 200 kB.
    tiny = stored("x", b"\x89PNG")
    data = raw_zip(
        [Member(f"cats/{i}.png", tiny.payload, 0, tiny.crc, MiB, MiB) for i in range(2000)]
    )
    response, spent = post_measured(api, project, data)
    assert response.status_code == 400
    assert "bytes of data in a" in response.json()["detail"]
    assert_nothing_kept(project)
    assert_cheap(spent, data)


def test_a_directory_declaring_a_million_entries_is_refused_before_parsing(
    api, project, monkeypatch
):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", refuse_parsing)
    data = raw_zip([stored("cats/a.png", png_of_zeros(8, 8))], declared_entries=10**6)
    response, spent = post_measured(api, project, data)
    assert response.status_code == 400
    assert "lists 1000000 entries, over the limit of" in response.json()["detail"]
    assert_nothing_kept(project)
    assert_cheap(spent, data)


@override_settings(WINNOW_MAX_ZIP_FILES=100)
def test_a_directory_understating_its_entries_is_counted_and_refused(api, project, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", refuse_parsing)
    member = stored("x", png_of_zeros(8, 8))
    members = [
        Member(f"cats/{i}.png", member.payload, 0, member.crc, member.size) for i in range(500)
    ]
    data = raw_zip(members, declared_entries=1)
    response, spent = post_measured(api, project, data)
    assert response.status_code == 400
    assert "more entries than the limit of 100" in response.json()["detail"]
    assert_nothing_kept(project)
    assert_cheap(spent, data)


def test_a_member_inflating_past_its_declared_size_is_refused(api, project):  # type: ignore[no-untyped-def]
    # 50 MB of zeros whose headers say 1,000 bytes: at most 1,000 are ever inflated.
    data = raw_zip([zeros_member("cats/liar.png", 50_000_000, declared=1000)])
    response, spent = post_measured(api, project, data)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["name"] == "cats/liar.png"
    assert_nothing_kept(project)
    assert_cheap(spent, data)


def test_a_member_shorter_than_its_declared_size_is_refused(api, project):  # type: ignore[no-untyped-def]
    data = raw_zip([zeros_member("cats/short.png", 1000, declared=5000), good("cats/ok.png")])
    response, spent = post_measured(api, project, data)
    assert response.status_code == 202
    (error,) = response.json()["errors"]
    assert error["name"] == "cats/short.png" and "shorter than its header" in error["error"]
    assert [i.meta["path"] for i in Item.objects.filter(project=project)] == ["cats/ok.png"]
    assert len([p for p in media_files() if p.suffix == ".png"]) == 1
    assert_cheap(spent, data)


def test_an_honest_deflate_bomb_is_refused_before_inflating(api, project):  # type: ignore[no-untyped-def]
    data = raw_zip([good("cats/ok.png"), zeros_member("cats/bomb.png", 200_000_000)])
    response, spent = post_measured(api, project, data)
    assert response.status_code == 400
    assert "ZIP bomb" in response.json()["detail"]
    assert_nothing_kept(project)
    assert_cheap(spent, data)


@override_settings(WINNOW_MAX_IMAGE_BYTES=10_000)
def test_a_member_over_the_per_image_size_is_reported_by_name(api, project):  # type: ignore[no-untyped-def]
    big = Image.effect_noise((200, 200), 64).convert("RGB")
    out = io.BytesIO()
    big.save(out, "PNG")
    data = raw_zip([stored("cats/big.png", out.getvalue()), good("cats/ok.png")])
    response, _ = post_measured(api, project, data)
    assert response.status_code == 202
    (error,) = response.json()["errors"]
    assert error["name"] == "cats/big.png" and "over the per-file limit of 10000" in error["error"]


# -- the worker decodes, and reports what does not ------------------------------


def test_the_worker_reports_an_image_that_does_not_decode_and_drops_its_item(
    api, project, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    whole = image_png((64, 64))
    truncated = whole[: len(whole) - 40]  # the header reads; the pixels do not
    data = raw_zip([stored("cats/ok.png", whole), stored("cats/cut.png", truncated)])
    response, _ = post_measured(api, project, data)
    assert response.status_code == 202 and response.json()["errors"] == []
    job_id = response.json()["job"]
    with django_capture_on_commit_callbacks(execute=True):
        assert image_import.import_job_run(job_id=job_id)
    job = api["lead"].get(f"/api/projects/{project.pk}/imports/{job_id}/").json()
    assert job["status"] == "done" and job["processed"] == job["total"] == 2
    assert job["created"] == 1 and job["skipped"] == 1
    assert [e["name"] for e in job["errors"]] == ["cats/cut.png"]
    assert "broken or truncated" in job["errors"][0]["error"]
    assert [i.meta["path"] for i in Item.objects.filter(project=project)] == ["cats/ok.png"]
    assert len([p for p in media_files() if p.suffix == ".png"]) == 1


def test_the_worker_holds_each_image_to_the_pixel_limit(api, project):  # type: ignore[no-untyped-def]
    data = raw_zip([stored("cats/a.png", image_png((100, 100))), good("cats/ok.png")])
    job_id = post_measured(api, project, data)[0].json()["job"]
    with override_settings(WINNOW_MAX_IMAGE_PIXELS=5_000):
        assert image_import.import_job_run(job_id=job_id)
    errors = ImportJob.objects.get(pk=job_id).errors
    assert [e["name"] for e in errors] == ["cats/a.png"]
    assert "over the limit of 5000" in errors[0]["error"]


# -- helpers ------------------------------------------------------------------------


def refuse_parsing(*args: object, **kwargs: object) -> None:
    raise AssertionError("zipfile parsed a directory that should have been refused")


def image_png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(out, "PNG")
    return out.getvalue()


def good(name: str) -> Member:
    return stored(name, image_png((16, 16)))
