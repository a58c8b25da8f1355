"""A running retrain's heartbeat: the worker that runs it says so every few seconds.

The claim (`run._claim`) takes a running retrain over only once its heartbeat is stale,
so a killed worker's retrain runs again within seconds, and a slow one never twice.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from projects.models import ModelVersion

log = logging.getLogger(__name__)


class Heartbeat:
    """While inside `with`, a thread stamps `heartbeat_at` on the version this attempt holds."""

    def __init__(self, *, version_id: int, attempt: int) -> None:
        self.mine = ModelVersion.objects.filter(
            pk=version_id, status=ModelVersion.Status.RUNNING, attempts=attempt
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="retrain-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.WINNOW_RETRAIN_HEARTBEAT_SECONDS):
                try:
                    self.mine.update(heartbeat_at=timezone.now())
                except DatabaseError as exc:  # a beat missed; the next may get through
                    log.warning("retrain heartbeat missed: %s", exc)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection
