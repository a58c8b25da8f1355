"""Faults the retrain loop survives (issue 13): a killed worker, Redis lost or down, a
retrain that raises. Real gunicorn, real workers, a private Redis each test may break.

Timings are shortened through the environment (a heartbeat every second, a sweep every
second, a re-send bound of two seconds), not by reaching into the processes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import transaction

from projects import item_search
from projects.models import Annotation, ModelVersion, Project
from tests.support.faults import PrivateRedis, kill_hard
from tests.support.services import Worker
from tests.support.sites import Site
from tests.support.team import Team, csrf_of, make_team
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAST = {
    "WINNOW_RETRAIN_HEARTBEAT_SECONDS": "1",
    "WINNOW_OWED_SWEEP_SECONDS": "1",
    "WINNOW_RETRAIN_RESEND_SECONDS": "2",
    "WINNOW_RETRAIN_BACKOFF_SECONDS": "1",
}
Status = ModelVersion.Status


@dataclass
class Rig:
    redis: PrivateRedis
    site: Site
    workers: list[Worker] = field(default_factory=list)

    def worker(self) -> Worker:
        worker = Worker.start(env=self.site.env, tag=f"-faults{len(self.workers)}")
        self.workers.append(worker)
        return worker

    def versions(self, team: Team) -> list[ModelVersion]:
        return list(ModelVersion.objects.filter(project_id=team.project_id).order_by("version"))

    def wait_status(self, team: Team, status: str, timeout: float = 40) -> ModelVersion:
        def reached() -> bool:
            return any(v.status == status for v in self.versions(team))

        try:
            wait_for(reached, timeout=timeout, what=f"a {status} model version")
        except AssertionError:
            logs = "\n".join(w.output()[-2500:] for w in self.workers)
            pytest.fail(f"no {status} version: {self.versions(team)}\n{logs}")
        return next(v for v in self.versions(team) if v.status == status)


@pytest.fixture
def rig(transactional_db: None) -> Iterator[Rig]:
    """gunicorn on the test database and a private Redis; workers started by the test."""
    private = PrivateRedis.start()
    site = Site.on_test_database(workers=2, CELERY_BROKER_URL=private.url(), **FAST)
    running = Rig(private, site)
    try:
        yield running
    finally:
        for worker in running.workers:  # before the flush: their writes must be over
            if worker.process.poll() is None:
                kill_hard(worker.process)
        site.stop()
        private.down()


@pytest.mark.postgres
def test_a_worker_killed_mid_retrain_runs_it_again_and_only_once(rig: Rig) -> None:
    team = make_team(rig.site, "killed", pool=60, batch_size=10)
    team.label(10)  # the batch closes: a retrain is owed and its message waits in Redis
    # The import's search words are written here, as a worker would: otherwise the first
    # worker's sweep may send that older debt ahead of the retrain, and its writer then
    # waits on the project row held below instead of the retrain claiming its version.
    item_search.words_write(team.project_id)
    assert not Project.objects.get(pk=team.project_id).words_owed
    with transaction.atomic():
        # Holding the project row keeps the retrain from finishing: a slow retrain.
        Project.objects.select_for_update().get(pk=team.project_id)
        first = rig.worker()
        wait_for(lambda: rig.versions(team)[0].status == Status.RUNNING, what="the claim")
        time.sleep(4)  # past the stale bound (3 beats): a healthy slow retrain still beats
        (running,) = rig.versions(team)
        assert running.status == Status.RUNNING and running.attempts == 1
        kill_hard(first.process)
    team.label(3)  # annotators go on while no worker runs

    rig.worker()  # its sweeper re-sends the dead worker's retrain once the beat is stale
    done = rig.wait_status(team, Status.DONE)
    assert [v.status for v in rig.versions(team)] == [Status.DONE], "exactly one version"
    assert done.attempts == 2 and done.labels_total >= 10
    assert Annotation.objects.filter(project_id=team.project_id).count() == 13


def test_an_owed_retrain_lost_with_an_emptied_redis_is_sent_again(rig: Rig) -> None:
    team = make_team(rig.site, "emptied", pool=60, batch_size=10)
    team.label(10)
    assert redis.Redis.from_url(rig.redis.url()).llen("celery") >= 1, "the message was queued"
    rig.redis.restart()  # comes back empty: the message is gone, the database still owes it
    assert redis.Redis.from_url(rig.redis.url()).llen("celery") == 0

    rig.worker()  # no beat configured: the worker's own sweep finds the owed retrain
    done = rig.wait_status(team, Status.DONE)
    assert len(rig.versions(team)) == 1 and done.labels_total == 10


def test_a_failing_retrain_is_retried_with_backoff_then_the_lead_may_retry(rig: Rig) -> None:
    team = make_team(rig.site, "failing", pool=60, batch_size=10)
    blocker = Path(settings.MODELS_ROOT) / f"project_{team.project_id}"
    shutil.rmtree(blocker, ignore_errors=True)  # a data dir an earlier run left behind
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the model directory goes: saving the model raises")
    rig.worker()
    team.label(10)

    failed = rig.wait_status(team, Status.FAILED)
    assert failed.attempts == 3 and "Error" in failed.error, failed.error
    assert failed.finished_at is not None
    assert (failed.finished_at - failed.requested_at).total_seconds() >= 1 + 2, "backoff"
    status = team.status()
    assert status["state"] == "collecting" and status["retrain"] is None
    assert status["retrain_failed"]["attempts"] == 3  # type: ignore[index]

    dashboard = f"{rig.site.url}/projects/{team.project_id}/"
    retry = f"{dashboard}retrain/"
    annotator = team.browser(next(iter(team.annotators)))
    page = annotator.get(dashboard, timeout=30).text
    assert "failed after 3 attempts" in page and "Retry the retrain" not in page
    assert annotator.post(retry, headers={"X-CSRFToken": csrf_of(page)}).status_code == 403
    lead = team.browser()
    page = lead.get(dashboard, timeout=30).text
    assert "failed after 3 attempts" in page and "Retry the retrain" in page
    assert lead.post(retry, headers={"HX-Request": "true"}).status_code == 403, "no CSRF token"

    blocker.unlink()  # the fault is mended
    answer = lead.post(retry, headers={"X-CSRFToken": csrf_of(page), "HX-Request": "true"})
    assert answer.status_code == 200 and 'id="live"' in answer.text
    done = rig.wait_status(team, Status.DONE)
    assert done.version == failed.version + 1 and done.labels_total == 10
    assert "failed after" not in lead.get(dashboard, timeout=30).text


def test_annotators_keep_labelling_while_redis_is_down(rig: Rig) -> None:
    team = make_team(rig.site, "redisdown", pool=60, batch_size=10)
    rig.worker()
    team.label(10)
    rig.wait_status(team, Status.DONE)

    rig.redis.down()
    started = time.monotonic()
    team.label(10)  # every label answers 201; the batch close records the owed retrain
    assert time.monotonic() - started < 20
    owed = ModelVersion.objects.get(project_id=team.project_id, status=Status.PENDING)
    wait_for(lambda: team.status()["retrain"]["delayed"], timeout=10, what="delayed")  # type: ignore[index]
    lead = team.browser()
    assert "Retraining is delayed" in lead.get(f"{rig.site.url}/projects/{team.project_id}/").text

    rig.redis.up()  # the worker reconnects and its sweep re-sends the owed retrain
    wait_for(
        lambda: ModelVersion.objects.get(pk=owed.pk).status == Status.DONE,
        timeout=45,
        what="the owed retrain after Redis returned",
    )
    assert ModelVersion.objects.get(pk=owed.pk).labels_total == 20
    assert Annotation.objects.filter(project_id=team.project_id).count() == 20
