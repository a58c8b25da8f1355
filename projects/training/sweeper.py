"""The re-send of owed retrains whose message was lost, run inside every worker (and of
owed search words: `item_search.words_resend`).

The database records owed work; the broker only carries it. A message is lost when
Redis restarts empty, when Redis was down as the work was recorded, or when a worker
is killed while running it (Redis would hand the unacknowledged message back only
after its visibility timeout, an hour). Each worker looks at start and then every
WINNOW_OWED_SWEEP_SECONDS, so no beat process need be configured.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from projects import item_search, tasks
from projects.models import ModelVersion
from projects.training.services import heartbeat_stale
from winnow.broker import task_send

log = logging.getLogger(__name__)
Status = ModelVersion.Status


def owed_due() -> Q:
    """Owed retrains whose message may be lost: not re-sent within the bound, and
    pending that long, due to be retried that long ago, or run by a worker that died."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.WINNOW_RETRAIN_RESEND_SECONDS)
    not_resent = Q(sent_at__isnull=True) | Q(sent_at__lt=cutoff)
    waiting = Q(status=Status.PENDING, requested_at__lt=cutoff)
    retry = Q(status=Status.RETRYING, retry_at__lt=cutoff)
    dead = Q(status=Status.RUNNING) & (
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - heartbeat_stale())
    )
    return not_resent & (waiting | retry | dead)


def owed_resend() -> int:
    """Send each due retrain once more; how many were sent.

    The compare-and-set on `sent_at` makes one worker's sweep re-send it when several
    workers sweep at once; the retrain itself is idempotent besides.
    """
    sent = 0
    for pk, sent_at in ModelVersion.objects.filter(owed_due()).values_list("pk", "sent_at"):
        unchanged = Q(sent_at=sent_at) if sent_at else Q(sent_at__isnull=True)
        if ModelVersion.objects.filter(unchanged, pk=pk).update(
            sent_at=timezone.now()
        ) and task_send(tasks.retrain, pk):
            log.info("re-sent owed retrain %s", pk)
            sent += 1
    return sent


def sweep_forever(stop: threading.Event) -> None:
    """Sweep now (a restarted worker sends what was lost at once), then periodically."""
    while True:
        try:
            owed_resend()
            item_search.words_resend()
        except DatabaseError as exc:  # the database restarting: next time
            log.warning("owed-work sweep failed: %s", exc)
            close_old_connections()
        if stop.wait(settings.WINNOW_OWED_SWEEP_SECONDS):
            connection.close()
            return


def sweeper_start() -> threading.Event:
    """Run the sweep in a daemon thread of this worker; set the event to stop it."""
    stop = threading.Event()
    threading.Thread(target=sweep_forever, args=(stop,), name="owed-sweeper", daemon=True).start()
    return stop
