"""Celery tasks: thin adapters that take ids and call services (acks_late, idempotent)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from projects import bulk, pool, training
from projects.models import ModelVersion, Project


@shared_task(acks_late=True, ignore_result=True)
def retrain(model_version_id: int) -> bool:
    """Retrain, evaluate and rescore the whole pool for one owed model version."""
    return training.retrain_run(model_version_id=model_version_id)


@shared_task(acks_late=True, ignore_result=True)
def pool_prepare(project_id: int) -> None:
    """After an import: compute the new items' features, then open a proper batch."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return
    bulk.items_tidy()  # fresh statistics for the new rows, before anything ranks them
    ids = pool.candidate_ids_all(project)
    pool.features_ready(project, ids)
    if project.state in (Project.State.COLLECTING, Project.State.TRAINING):
        training.batch_refresh_unless_training(project=project)


@shared_task(ignore_result=True)
def resend_owed_work() -> int:
    """Re-send retrains the database says are owed but no worker has started (lost messages)."""
    cutoff = timezone.now() - timedelta(seconds=settings.WINNOW_RETRAIN_RESEND_SECONDS)
    owed = ModelVersion.objects.filter(status=ModelVersion.Status.PENDING, requested_at__lt=cutoff)
    stale = ModelVersion.objects.filter(
        status=ModelVersion.Status.RUNNING, started_at__lt=timezone.now() - training.STALE_RUNNING
    )
    ids = list(owed.values_list("pk", flat=True)) + list(stale.values_list("pk", flat=True))
    for pk in ids:
        retrain.delay(pk)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def image_import_process(job_id: int) -> bool:
    """Thumbnails and features for the images of one import job (resumable)."""
    from projects import image_import

    return image_import.import_job_run(job_id=job_id)
