"""The record of one chunk of a chunked rescore (`projects.training.chunks`).

In the database, not the broker, like owed retrains: whichever worker claims a chunk
(compare-and-set) scores it, and a chunk claimed by a worker that died is claimed again
once its claim is stale, by the retrain that waits for it or by a redelivered message.
"""

from __future__ import annotations

from django.db import models


class RescoreChunk(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"

    version = models.ForeignKey(
        "projects.ModelVersion", on_delete=models.CASCADE, related_name="rescore_chunks"
    )
    attempt = models.PositiveIntegerField()  # the retrain attempt whose rescore this is
    index = models.PositiveIntegerField()
    start = models.PositiveIntegerField()  # row range [start, stop) of the scored ids
    stop = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0)  # compare-and-set token of the holder

    class Meta:
        app_label = "projects"
        constraints = [
            models.UniqueConstraint(
                fields=["version", "attempt", "index"], name="one_rescore_chunk"
            )
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.version_id} attempt {self.attempt} ({self.status})"
