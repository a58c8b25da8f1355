"""Celery tasks: thin adapters that take ids and call services (acks_late, idempotent).

Each body imports its service lazily: services enqueue these tasks, so importing
them here at module level would make every service depend on every other.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready


@shared_task(acks_late=True, ignore_result=True)
def retrain(model_version_id: int) -> bool:
    """Retrain, evaluate and rescore the whole pool for one owed model version."""
    from projects.batches.refresh import RETRAIN_HOOKS
    from projects.training.run import retrain_run

    return retrain_run(model_version_id=model_version_id, batches=RETRAIN_HOOKS)


@shared_task(acks_late=True, ignore_result=True)
def rescore_chunk(chunk_id: int) -> bool:
    """Score one chunk of a large rescore (`projects.training.chunks`); any worker may."""
    from projects.training.chunks import chunk_score

    return chunk_score(chunk_id=chunk_id)


@shared_task(acks_late=True, ignore_result=True)
def features_chunk(chunk_id: int) -> bool:
    """Compute one chunk of a large pool's features (`projects.pool.feature_chunks`)."""
    from projects.pool.snapshot import feature_chunk_compute

    return feature_chunk_compute(chunk_id)


@shared_task(acks_late=True, ignore_result=True)
def pool_prepare(project_id: int) -> None:
    """After an import: compute the new items' features, then open a proper batch."""
    from projects.ingest.services import pool_prepared

    pool_prepared(project_id=project_id)


@shared_task(acks_late=True, ignore_result=True)
def item_words(project_id: int) -> int:
    """Write the search words of a project's new items (`projects.item_search`)."""
    from projects.item_search import words_write

    return words_write(project_id)


@shared_task(ignore_result=True)
def resend_owed_work() -> int:
    """Re-send retrains the database says are owed but no worker has started (lost messages).

    Every worker already sweeps on its own (`owed_work_sweep`); this is for a beat
    schedule that still names it.
    """
    from projects.training.sweeper import owed_resend

    return owed_resend()


@worker_ready.connect
def owed_work_sweep(**_: Any) -> None:
    """Each worker re-sends lost owed work itself: at start, then on its own timer."""
    from projects.training.sweeper import sweeper_start  # lazily, as the task bodies

    sweeper_start()


@shared_task(acks_late=True, ignore_result=True)
def image_import_process(job_id: int) -> bool:
    """Thumbnails and features for the images of one import job (resumable)."""
    from projects.ingest.images import import_job_run

    return import_job_run(job_id=job_id)


@shared_task(acks_late=True, ignore_result=True)
def replay(job_id: int) -> bool:
    """Replay the project's labelled items through every strategy (`projects.replay`)."""
    from projects.replay import replay_run

    return replay_run(job_id=job_id)
