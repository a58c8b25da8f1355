"""Owed retrains: recorded in the database once, sent to a worker after commit.

A pending ModelVersion is the record of owed work (the partial unique index
`one_retrain_owed` allows one per project), so a lost message is re-sent from it
(`sweeper`). A running one carries its worker's heartbeat, so a dead worker's retrain
is claimed again soon while a slow one that still beats never is.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from projects import artifacts, tasks
from projects.models import ModelVersion, Project
from projects.state import RETRAIN_ENDED, RETRAIN_OWED, project_transition
from winnow.broker import task_send
from winnow.db import execute_prepared

Status = ModelVersion.Status


def retrain_request(*, project: Project, trigger: str) -> ModelVersion:
    """Record that a retrain is owed (once) and send it to the worker after commit."""
    # No savepoint of its own inside a caller's transaction (a batch close): a round trip
    # each way, and nothing here is caught and carried on from but the create's conflict.
    with transaction.atomic(savepoint=False):
        owed = ModelVersion.objects.filter(project=project, status=ModelVersion.Status.PENDING)
        existing = owed.first()
        if existing is not None:
            return existing
        last = ModelVersion.objects.filter(project=project).aggregate(v=Max("version"))["v"]
        try:
            with transaction.atomic():
                version = ModelVersion.objects.create(
                    project=project, version=(last or 0) + 1, trigger=trigger
                )
        except IntegrityError:  # a concurrent request recorded it first
            return ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
        project_transition(project_id=project.pk, to=RETRAIN_OWED.to, from_=RETRAIN_OWED.sources)
    transaction.on_commit(lambda: retrain_send(project_id=project.pk, version_id=version.pk))
    return version


_RUNNING = """
SELECT EXISTS (SELECT 1 FROM {version}
               WHERE project_id = %(project)s AND status = '{running}'
                 AND heartbeat_at >= %(fresh)s)
"""


def retrain_send(*, project_id: int, version_id: int) -> None:
    """Send a committed owed retrain to the worker, unless one of the project's is running.

    The running retrain's end sends the owed one (`training._owed_send`, once its
    results have committed), and a worker given this one meanwhile would only drop it.
    Asked after this record's commit, so of the two the later look sees the other's
    commit: if this one still sees the retrain running, its end has not committed, and
    looks after ours.
    Under load batches close while a retrain runs, and a send was a few ms of each close.
    """
    sql = _RUNNING.format(
        version=ModelVersion._meta.db_table, running=ModelVersion.Status.RUNNING.value
    )
    params = {"project": project_id, "fresh": timezone.now() - heartbeat_stale()}
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)
        if cursor.fetchone()[0]:
            return
    task_send(tasks.retrain, version_id)


class Superseded(Exception):
    """Another worker claimed this version after ours was taken for dead."""


def heartbeat_stale() -> timedelta:
    """How old a running retrain's heartbeat may be before its worker counts as dead."""
    return timedelta(seconds=3 * settings.WINNOW_RETRAIN_HEARTBEAT_SECONDS)


def model_name(project_id: int, version: int) -> str:
    """The model file's name in the artifact store (`projects.artifacts`)."""
    return f"models/project_{project_id}/model_v{version}.joblib"


def owed_send(project_id: int) -> None:
    """Send the retrain owed since this one started, if any, once `_finish` has committed.

    After, not in it: a batch close that saw this retrain running left the retrain it
    recorded for this to send (`services.retrain_send`), and looked only once its record
    had committed; so whichever of the two looks last sees the other's commit.
    """
    owed = ModelVersion.objects.filter(
        project_id=project_id, status=ModelVersion.Status.PENDING
    ).first()
    if owed is None:
        return
    project_transition(project_id=project_id, to=RETRAIN_OWED.to, from_=RETRAIN_OWED.sources)
    transaction.on_commit(lambda: task_send(tasks.retrain, owed.pk))  # at once in autocommit


def latest_model(project: Project) -> ModelVersion | None:
    return (
        ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
        .order_by("-version")
        .first()
    )


OWED = (Status.PENDING, Status.RUNNING, Status.RETRYING)


def retraining(project: Project, *, besides: ModelVersion | None = None) -> bool:
    owed = ModelVersion.objects.filter(project=project, status__in=OWED)
    if besides is not None:
        owed = owed.exclude(pk=besides.pk)
    return owed.exists()


@lru_cache(maxsize=32)
def load_model(project_id: int, version: int) -> Any:
    """A trained model version (cached per process: versions never change once written)."""
    return artifacts.artifact_unpickle(model_name(project_id, version))["model"]


def retrain_fail(*, version: ModelVersion, attempt: int, error: str) -> bool:
    """Record a retrain that raised: tried again after a backoff, or failed for good.

    True if it will be tried again. Not when a newer retrain is owed: that one trains on
    every label this one would have, so it is the retry. After the last attempt the
    dashboard shows the error and the lead may ask again (`retrain_again`).
    """
    owed_newer = ModelVersion.objects.filter(project_id=version.project_id, status=Status.PENDING)
    retry = attempt < settings.WINNOW_RETRAIN_ATTEMPTS and not owed_newer.exists()
    mine = ModelVersion.objects.filter(pk=version.pk, status=Status.RUNNING, attempts=attempt)
    now = timezone.now()
    with transaction.atomic():
        if retry:
            delay = settings.WINNOW_RETRAIN_BACKOFF_SECONDS * 2 ** (attempt - 1)
            retry_at = now + timedelta(seconds=delay)
            if mine.update(status=Status.RETRYING, retry_at=retry_at, sent_at=now, error=error):
                transaction.on_commit(lambda: task_send(tasks.retrain, version.pk, countdown=delay))
            return retry
        mine.update(status=Status.FAILED, error=error, finished_at=now)
        project_transition(
            project_id=version.project_id, to=RETRAIN_ENDED.to, from_=RETRAIN_ENDED.sources
        )
    return retry


def retrain_again(*, project: Project) -> ModelVersion:
    """The lead asks for a retrain after one failed for good: a new owed version."""
    return retrain_request(project=project, trigger="retry")


def retrain_failed(project: Project) -> ModelVersion | None:
    """The project's newest version, if it failed for good (nothing newer is owed)."""
    newest = ModelVersion.objects.filter(project=project).order_by("-version").first()
    return newest if newest is not None and newest.status == Status.FAILED else None
