"""Image import end to end: a real Celery worker process, on either database and broker."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from sklearn.datasets import load_digits

from projects.models import ImportJob, Item, ModelVersion, Project
from projects.pool import features
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def digits_zip(n: int) -> bytes:
    """`n` digit PNGs in class folders, plus two unlabelled ones at the top level."""
    digits = load_digits()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(n + 2):
            png = io.BytesIO()
            pixels = (digits.images[i] * 15).astype(np.uint8)
            Image.fromarray(pixels, "L").resize((32, 32)).save(png, "PNG")
            name = f"{digits.target[i]}/{i}.png" if i < n else f"loose-{i}.png"
            archive.writestr(name, png.getvalue())
    return out.getvalue()


def test_zip_with_class_folders_is_featurised_by_the_worker(api, celery_worker_process):  # type: ignore[no-untyped-def]
    labels = [str(d) for d in range(10)]
    pid = (
        api["lead"]
        .post(
            "/api/projects/", {"name": "Digits", "kind": "image", "labels": labels}, format="json"
        )
        .json()["id"]
    )
    api["lead"].post(
        f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"}, format="json"
    )
    response = api["lead"].post(
        f"/api/projects/{pid}/import/", {"file": SimpleUploadedFile("d.zip", digits_zip(60))}
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["created"] == 62 and body["skipped"] == 0 and body["job"]
    url = f"/api/projects/{pid}/imports/{body['job']}/"

    seen: list[int] = []

    def job_done() -> bool:
        state = api["lead"].get(url).json()
        seen.append(state["processed"])
        return bool(state["status"] == "done")

    wait_for(job_done, what=f"the import job; worker log:\n{celery_worker_process.output()}")
    job = ImportJob.objects.get(pk=body["job"])
    assert job.processed == job.total == 62 and job.finished_at is not None
    assert seen == sorted(seen)  # progress only moves forward

    items = list(Item.objects.filter(project_id=pid).order_by("id"))
    assert sum(1 for i in items if i.label is not None) == 60
    assert {i.label for i in items if i.label} == set(labels)
    for item in items:
        path = Path(settings.MEDIA_ROOT) / item.image
        assert path.with_name(f"{path.stem}.thumb.webp").is_file()
    table = features.features_load(pid)
    assert table is not None and table.missing(np.array([i.pk for i in items])).size == 0

    # the seed labels asked for a retrain once the features were there; it uses them
    wait_for(
        lambda: ModelVersion.objects.filter(project_id=pid, status="done").exists(),
        what="the first model",
    )
    version = ModelVersion.objects.get(project_id=pid, status="done")
    assert version.train_size == 60 and version.trigger == "import"
    assert version.timings["load_features"] < 5

    nxt = api["ann1"].get(f"/api/projects/{pid}/next/")
    assert nxt.status_code == 200
    image = api["ann1"].get(nxt.json()["item"]["image_url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert api["outsider"].get(nxt.json()["item"]["image_url"]).status_code == 404
    assert Project.objects.get(pk=pid).state in ("collecting", "training")
