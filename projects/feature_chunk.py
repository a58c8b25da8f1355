"""The record of one chunk of a split feature computation (`projects.pool.feature_chunks`).

In the database, like `RescoreChunk`: whichever worker claims a chunk (compare-and-set)
computes its rows, and a chunk whose worker died is claimed again once its claim is stale.
"""

from __future__ import annotations

from django.db import models


class FeatureChunk(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="feature_chunks"
    )
    job = models.CharField(max_length=32)  # one split: every chunk of one features_ready
    index = models.PositiveIntegerField()
    first_id = models.BigIntegerField()  # the item ids [first_id, last_id] it computes
    last_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)  # renewed as it goes
    claims = models.PositiveIntegerField(default=0)  # compare-and-set token of the holder

    class Meta:
        app_label = "projects"
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_feature_chunk")]

    def __str__(self) -> str:
        return f"feature chunk {self.index} of {self.job} ({self.status})"
