"""Every operation of /api/schema/, fuzzed with schemathesis as a project's lead.

The schema is read from the Django app in-process and each documented operation is
called with generated requests, valid and invalid ones, against a project that has
a pool, an open batch, annotations, a gold item, a review queue, a trained model
version and an import job, so that most generated ids in paths name real rows. Each
response must not be a server error and must match what the schema documents: its
status code, its content type, its headers and its body.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from projects import tasks
from projects.models import ImportJob, Item, ModelVersion, Project
from projects.stream.buffer import stream_features_flush
from projects.training import services as training_services
from winnow.wsgi import application

pytestmark = pytest.mark.django_db

# Per operation; both generation modes share it. Enough to reach every status an
# operation documents on this fixture, few enough for the normal test command.
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    deterministic=True,
)

PETS = ["the cat purrs on the warm mat", "a kitten chased the cat toy", "my cat sleeps all day"]
MONEY = ["stocks fell on the market today", "the bank raised interest rates"]


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    # Retrains run here, in-process, on this test's files; the database still records
    # owed work, and no worker another test started may take it.
    for task in ("retrain", "pool_prepare", "image_import_process"):
        monkeypatch.setattr(f"projects.tasks.{task}.delay", lambda *args, **kwargs: None)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    yield
    stream_features_flush()
    training_services.load_model.cache_clear()


@contextmanager
def same_connection() -> Iterator[None]:
    """The app is called in-process, inside the test's transaction: as Django's test
    client does around each request, keep the request signals from closing it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _csv(rows: list[str]) -> SimpleUploadedFile:
    return SimpleUploadedFile("pool.csv", ("text,label\n" + "\n".join(rows) + "\n").encode())


@pytest.fixture
def site(api, users) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A text project in every stage of the loop; the ids the fuzzed paths should name."""
    lead = api["lead"]
    created = lead.post(
        "/api/projects/",
        {
            "name": "Fuzz",
            "kind": "text",
            "labels": ["pets", "money"],
            "batch_size": 5,
            "overlap": 2,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    for name, role in (("ann1", "annotator"), ("ann2", "annotator"), ("reviewer", "reviewer")):
        body = {"username": name, "role": role}
        assert lead.post(f"/api/projects/{pid}/members/", body, format="json").status_code == 201
    seeds = [f"{t} {i},pets" for i, t in enumerate(PETS * 3)]
    seeds += [f"{t} {i},money" for i, t in enumerate(MONEY * 4)]
    pool = [f"{(PETS + MONEY)[i % 5]} again {i}," for i in range(40)]
    imported = lead.post(f"/api/projects/{pid}/import/", {"file": _csv(seeds + pool)})
    assert imported.status_code == 201, imported.content
    owed = ModelVersion.objects.get(project_id=pid, status="pending")
    assert tasks.retrain(owed.pk)
    for who, label in (("ann1", "pets"), ("ann2", "money")):  # they disagree: a review
        item = api[who].get(f"/api/projects/{pid}/next/").json()["item"]
        answer = {"item": item["id"], "label": label, "confidence": 4}
        posted = api[who].post(f"/api/projects/{pid}/annotations/", answer, format="json")
        assert posted.status_code == 201, posted.content
    project = Project.objects.get(pk=pid)
    review = Item.objects.get(project=project, state=Item.State.REVIEW)
    handed = lead.get(f"/api/projects/{pid}/next/")
    assert handed.status_code == 200, handed.content
    item = Item.objects.filter(project=project, state=Item.State.POOL).order_by("id").first()
    assert item is not None
    gold = {"items": [{"item": item.pk, "label": "pets"}]}
    assert lead.post(f"/api/projects/{pid}/gold/", gold, format="json").status_code == 200
    job = ImportJob.objects.create(project=project, filename="images.zip", total=3)
    return {
        "project_id": pid,
        "item_id": Item.objects.filter(project=project).order_by("id").first().pk,  # type: ignore[union-attr]
        "version": owed.version,
        "job_id": job.pk,
        "token": Token.objects.get(user=users["lead"]).key,
        # A member the removal may take (each operation gets a fresh site; the lead, the
        # last one, is refused with 409 and stays for the other operations' calls).
        "username": "ann2",
        # What generated bodies name, steered like the path ids.
        "body": {"item": handed.json()["item"]["id"], "label": "pets", "username": "outsider"},
        "review": {"item": review.pk},
    }


def _real_ids(case: schemathesis.Case, site: dict[str, Any]) -> None:
    """Most generated ids are replaced by the fixture's real ones so that requests get
    past the 404; the others stay as generated, ids that name nothing. Negative
    ids are replaced too: Django's `int` path converter does not match them, so no API
    view answers them (the schema's `integer` does not say `minimum: 0`)."""
    for name, value in (case.path_parameters or {}).items():
        fuzzed = isinstance(value, int) and value >= 0 and not _steer(value)
        if name in site and not fuzzed:
            case.path_parameters[name] = site[name]


def _steer(value: Any) -> bool:
    """Three in four generated values are steered to real ones, deterministically."""
    return zlib.crc32(repr(value).encode()) % 4 != 0


def _real_body(body: Any, real: dict[str, Any]) -> None:
    """Items, labels and usernames in a generated JSON body, steered like path ids so
    that the operations' success answers are reached too (gold's `items` included)."""
    if isinstance(body, list):
        for entry in body:
            _real_body(entry, real)
    if not isinstance(body, dict):
        return
    for name, value in body.items():
        if name in real and type(value) is type(real[name]) and _steer(value):
            body[name] = real[name]
        elif isinstance(value, list):
            _real_body(value, real)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    # `site` is built once per operation and shared by its examples on purpose: what
    # one request changes (a member added, a label given) is the next one's state.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_operation_answers_as_documented(case: schemathesis.Case, site) -> None:  # type: ignore[no-untyped-def]
    _real_ids(case, site)
    review = case.operation.path.endswith("/review/")
    _real_body(case.body, {**site["body"], **(site["review"] if review else {})})
    with same_connection():
        case.call_and_validate(
            headers={"Authorization": f"Token {site['token']}"},
            checks=CHECKS,
        )
