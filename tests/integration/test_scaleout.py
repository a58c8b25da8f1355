"""Two workers that share nothing but PostgreSQL and Redis run the whole loop (issue 17).

Each worker has its own WINNOW_DATA_DIR, as on two hosts; feature shards, rankings and
models go to the database store (WINNOW_ARTIFACTS=database) or to an S3-compatible
server (WINNOW_ARTIFACTS=s3, moto's server in its own process), and every rescore is split
into chunks small enough that both workers are sent some. Import, coverage batch, labels,
retrain and the next batch from its ranking, three times.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from projects.artifact_stores import Artifact
from projects.models import Item, ModelVersion, RescoreChunk
from projects.pool import features
from tests.integration.test_loop import (
    BATCH_SIZE,
    LABELS,
    POOL,
    accuracy,
    assert_batch_is_top_of_scores,
    demo_rows,
    label_batch,
    pool_csv,
    retrained,
    wait_for,
)
from tests.projects.test_images_worker import digits_zip
from tests.support.object_store import ObjectStore
from tests.support.services import ROOT, Worker, child_env

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]
CHUNK = 150
PROJECT = {
    "name": "Two hosts",
    "kind": "text",
    "labels": LABELS,
    "batch_size": BATCH_SIZE,
    "strategy": "least_confidence",
    "selector": "top_k",
    "holdout_fraction": 0.1,
}


@pytest.fixture(params=["database", "s3"])
def artifact_store(request, settings):  # type: ignore[no-untyped-def]
    """The shared store, as the test (the web) and the workers' environment name it."""
    if request.param == "database":
        entry = {"BACKEND": "projects.artifact_stores.DatabaseStorage"}
        settings.STORAGES = {**settings.STORAGES, "artifacts": entry}
        yield None, {"WINNOW_ARTIFACTS": "database"}
        return
    server = ObjectStore.start()
    settings.STORAGES = {**settings.STORAGES, "artifacts": server.storage()}
    try:
        yield server, server.env()
    finally:
        server.stop()


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Settings both workers get besides the store's (a test may parametrize it)."""
    return {"WINNOW_RESCORE_CHUNK_ITEMS": str(CHUNK)}


@pytest.fixture
def two_workers(tmp_path: Path, artifact_store, worker_env):  # type: ignore[no-untyped-def]
    """Two workers with data dirs of their own. The session's worker, which would take
    this test's messages and write to its own data dir, takes none while they run
    (`tests.conftest._session_worker_for_its_tests`)."""
    _, store_env = artifact_store
    workers: list[Worker] = []
    try:
        for tag in ("a", "b"):
            env = child_env(
                WINNOW_DATA_DIR=str(tmp_path / f"host-{tag}"),
                **worker_env,
                **store_env,
            )
            workers.append(Worker.start(env=env, tag=f"-host-{tag}"))
        yield workers
    finally:
        for worker in workers:  # before the flush: a worker still writing would block it
            if worker.process.poll() is None:  # one a test killed answers nothing
                worker.wait_idle()
                worker.stop()


def test_two_workers_with_separate_data_dirs_run_the_loop(
    two_workers: list[Worker],
    artifact_store: tuple[ObjectStore | None, dict[str, str]],
    api: dict[str, APIClient],
    tmp_path: Path,
) -> None:
    pool, held_out = demo_rows()
    truth = dict(pool)
    lead, annotator = api["lead"], api["ann1"]
    pid = lead.post("/api/projects/", PROJECT, format="json").json()["id"]
    member = {"username": "ann1", "role": "annotator"}
    assert lead.post(f"/api/projects/{pid}/members/", member, format="json").status_code == 201
    imported = lead.post(f"/api/projects/{pid}/import/", {"file": pool_csv(pool)})
    assert imported.status_code == 201 and imported.json()["created"] == POOL, imported.content
    log_of = two_workers[0]
    wait_for(lead, pid, log_of, "the coverage batch", lambda s: bool(s["batch"]))

    for number in (1, 2, 3):
        label_batch(annotator, pid, number, truth)
        wait_for(lead, pid, log_of, f"model version {number}", retrained(number))
        assert_batch_is_top_of_scores(pid, number + 1, version=number)

    done = ModelVersion.objects.filter(project_id=pid).order_by("version")
    assert [(v.version, v.status) for v in done] == [(n, "done") for n in (1, 2, 3)]
    assert accuracy(lead, pid, 3, held_out) > accuracy(lead, pid, 1, held_out)
    assert not RescoreChunk.objects.exists(), "every chunk merged and cleared"

    # Nothing went through a shared directory: the artifacts are rows or objects, and
    # each worker's own data dir holds only its cache of what it read.
    server, _ = artifact_store
    if server is None:
        names = list(Artifact.objects.filter(part=0).values_list("name", flat=True))
    else:
        names = [key.removeprefix("winnow/") for key in server.object_keys()]
        assert not Artifact.objects.exists()
    assert any(re.match(rf"features/project_{pid}/shard-", n) for n in names)
    assert f"models/project_{pid}/scores_v3.npz" in names
    assert f"models/project_{pid}/model_v3.joblib" in names
    for tag in ("a", "b"):
        host = tmp_path / f"host-{tag}"
        assert not (host / "features").exists() and not (host / "models").exists()
    # Both workers were given work, and chunks a retrain sent were scored by a worker
    # (the idle one, while the other runs the retrain).
    for worker in two_workers:
        assert "Task projects.tasks." in worker.output(), worker.output()[-2000:]
    logs = "".join(worker.output() for worker in two_workers)
    assert re.search(r"rescore_chunk\[[^]]+\] succeeded in [0-9.]+s: True", logs), logs[-3000:]
    # Each worker memory-maps the shards it read from its own cache.
    cached = [tmp_path / f"host-{t}" / "cache" / "feature_shards" / f"project_{pid}" for t in "ab"]
    assert all(any(c.iterdir()) for c in cached)


KILL_CHUNK = 10
HEARTBEAT = 1  # seconds: a dead worker's chunk is claimed again after three
# While this file exists, a chunk a test worker claimed waits inside it before reading its
# rows (tests/support/chunk_pause/sitecustomize.py): the kill lands in the chunk for sure.
CHUNK_PAUSE = Path(tempfile.gettempdir()) / f"winnow-chunk-pause-{os.getpid()}"


CLAIMED = re.compile(r"rescore chunk (\d+) of version (\d+): claimed")


RETRAIN = r"Task projects\.tasks\.retrain\[([0-9a-f-]+)\]"


def _running_retrain(log: str) -> bool:
    received = set(re.findall(rf"{RETRAIN} received", log))
    ended = set(re.findall(rf"{RETRAIN} (?:succeeded|raised|failed|retry)", log))
    return bool(received - ended)


def _retrainer(workers: list[Worker]) -> tuple[Worker, Worker]:
    """(the worker running the project's one retrain, the other), from their logs.

    Running, not merely received: a retrain message a previous test left on the queue
    also reaches a fresh worker, and ends at once (its version is gone). This test's
    retrain waits inside its first chunk (the pause hook) until the test lets it go.
    """
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [w for w in workers if _running_retrain(w.output())]
        if len(running) == 1:
            (retrainer,) = running
            return retrainer, next(w for w in workers if w is not retrainer)
        time.sleep(0.01)
    raise AssertionError("no single worker is running the retrain")


def _poll(what: str, found: Any, timeout: float = 60, log: Worker | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.005)
    states = list(RescoreChunk.objects.order_by("index").values_list("index", "status", "claims"))
    tail = log.output()[-3000:] if log else ""
    raise AssertionError(f"timed out waiting for {what}: chunks {states}\n{tail}")


def _frozen_inside_a_chunk(worker: Worker) -> RescoreChunk | None:
    """Stop `worker`; the chunk it claimed and has not finished, else let it go on.

    Its log says which chunks it claimed and which it scored; stopped, it can do neither.
    """
    worker.process.send_signal(signal.SIGSTOP)
    log = worker.output()
    claimed = CLAIMED.findall(log)
    scored = set(re.findall(r"rescore chunk (\d+) of version (\d+): model", log))
    inside = [c for c in claimed if c not in scored]
    if inside:
        index, version = inside[-1]
        chunk = RescoreChunk.objects.get(version_id=version, index=index)
        if chunk.status == RescoreChunk.Status.RUNNING:
            return chunk
    worker.process.send_signal(signal.SIGCONT)
    return None


def _kill_inside_a_chunk(retrainer: Worker, victim: Worker) -> None:
    """SIGKILL `victim` while it holds a chunk of the retrain `retrainer` runs."""
    # Claimed, not merely received: a chunk message a previous test left on the queue
    # reaches a fresh worker too, and stopping the retrainer before it has sent this
    # retrain's chunks would leave the victim nothing to hold.
    _poll("a chunk claimed by the other worker", lambda: CLAIMED.search(victim.output()))
    # Only the victim takes chunks from here (the retrainer keeps the one it may hold).
    retrainer.process.send_signal(signal.SIGSTOP)
    try:
        held = _poll(
            "the other worker inside a chunk",
            lambda: _frozen_inside_a_chunk(victim),
            log=victim,
        )
        victim.process.kill()
        victim.process.wait(timeout=10)
    finally:
        retrainer.process.send_signal(signal.SIGCONT)
    held.refresh_from_db()
    assert held.status == "running" and held.claims == 1, "killed while holding it"


@pytest.mark.parametrize("artifact_store", ["database"], indirect=True)
@pytest.mark.parametrize(
    "worker_env",
    [
        {
            "WINNOW_RESCORE_CHUNK_ITEMS": str(KILL_CHUNK),
            "WINNOW_RETRAIN_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "WINNOW_TEST_CHUNK_PAUSE": str(CHUNK_PAUSE),
            "PYTHONPATH": f"{ROOT / 'tests' / 'support' / 'chunk_pause'}{os.pathsep}{ROOT}",
        }
    ],
)
def test_a_worker_killed_mid_chunk_leaves_its_chunk_to_the_retrain(
    two_workers: list[Worker], api: dict[str, APIClient]
) -> None:
    """SIGKILL, not a stale row faked in the database: the worker holding a chunk dies,
    the retrain that sent it claims it again once the claim is stale and finishes."""

    pool, _ = demo_rows()
    lead, annotator = api["lead"], api["ann1"]
    pid = lead.post("/api/projects/", PROJECT, format="json").json()["id"]
    member = {"username": "ann1", "role": "annotator"}
    assert lead.post(f"/api/projects/{pid}/members/", member, format="json").status_code == 201
    assert lead.post(f"/api/projects/{pid}/import/", {"file": pool_csv(pool)}).status_code == 201
    wait_for(lead, pid, two_workers[0], "the coverage batch", lambda s: bool(s["batch"]))

    CHUNK_PAUSE.touch()  # the chunk the other worker takes, it holds until it dies
    try:
        label_batch(annotator, pid, 1, dict(pool))
        retrainer, victim = _retrainer(two_workers)
        _kill_inside_a_chunk(retrainer, victim)
    finally:
        CHUNK_PAUSE.unlink(missing_ok=True)

    wait_for(lead, pid, retrainer, "model version 1", retrained(1))
    version = ModelVersion.objects.get(project_id=pid, version=1)
    assert version.status == "done" and version.attempts == 1
    assert_batch_is_top_of_scores(pid, 2, version=1)
    chunks = RescoreChunk.objects.filter(version__project_id=pid)
    assert not chunks.exists(), "every chunk merged and cleared"
    assert victim.process.returncode == -signal.SIGKILL


def test_images_go_through_the_shared_store(
    two_workers: list[Worker],
    artifact_store: tuple[ObjectStore | None, dict[str, str]],
    api: dict[str, APIClient],
    tmp_path: Path,
) -> None:
    """The web stores an image ZIP's files, a worker on another host decodes them for
    thumbnails and features, and the web serves both: no directory is shared."""

    lead = api["lead"]
    labels = [str(d) for d in range(10)]
    pid = lead.post(
        "/api/projects/", {"name": "Digits", "kind": "image", "labels": labels}, format="json"
    ).json()["id"]
    upload = SimpleUploadedFile("d.zip", digits_zip(30))
    body = lead.post(f"/api/projects/{pid}/import/", {"file": upload}).json()
    assert body["created"] == 32, body

    def job_done() -> bool:
        return bool(
            lead.get(f"/api/projects/{pid}/imports/{body['job']}/").json()["status"] == "done"
        )

    _poll("the image import job", job_done, log=two_workers[0])
    items = list(Item.objects.filter(project_id=pid))
    assert len(items) == 32 and features.features_load(pid) is not None
    for item in items[:3]:
        thumb = lead.get(f"/api/projects/{pid}/items/{item.pk}/image/?thumb=1")
        assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
        assert b"".join(thumb.streaming_content)[:4] == b"RIFF"
    assert not (Path(settings.MEDIA_ROOT) / f"project_{pid}").exists()
    for tag in ("a", "b"):
        assert not (tmp_path / f"host-{tag}" / "media").exists()
    server, _ = artifact_store
    if server is None:
        stored = Artifact.objects.filter(name__startswith=f"media/project_{pid}/", part=0)
        assert stored.count() == 64  # every image and its thumbnail
    else:
        keys = [k for k in server.object_keys() if k.startswith(f"winnow/media/project_{pid}/")]
        assert len(keys) == 64
