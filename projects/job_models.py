"""The records of a project's long jobs: a file import (`ImportJob`) and a strategy
replay (`ReplayJob`). Split from `projects.models`, which imports them so that
`from projects.models import ImportJob` keeps working."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ImportJob(models.Model):
    """A file import; big image ZIPs run in the worker and report progress here."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="imports"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    filename = models.CharField(max_length=255)
    upload = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    seeded = models.PositiveIntegerField(default=0, help_text="Rows with a label: seed labels.")
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.pk} of {self.filename} ({self.status})"


class ReplayJob(models.Model):
    """A replay of the project's labelled items through every strategy (`projects.replay`).

    One job runs per project at a time: a partial unique index allows one pending or
    running row, so two requests cannot both start one.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="replays"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    target = models.FloatField(help_text="The holdout accuracy each strategy had to reach.")
    config = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["pending", "running"]),
                name="one_replay_running",
            )
        ]

    def __str__(self) -> str:
        return f"replay {self.pk} of {self.project} ({self.state})"
