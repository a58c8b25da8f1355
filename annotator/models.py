"""Assignments (leases on items) and review decisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Item, Project


class Assignment(models.Model):
    """A lease: one annotator may label one item until `expires_at`."""

    class State(models.TextChoices):
        ACTIVE = "active"
        DONE = "done"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="one_assignment_per_item"),
        ]
        indexes = [
            models.Index(
                fields=["project", "annotator"],
                condition=Q(state="active"),
                name="assignment_active",
            ),
            models.Index(
                fields=["project", "expires_at"],
                condition=Q(state="active"),
                name="assignment_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} on item {self.item_id} ({self.state})"


class ReviewDecision(models.Model):
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="review")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    label = models.CharField(max_length=200)  # "" on multi-label projects
    labels = models.JSONField(null=True, blank=True)  # a multi-label project's final set
    spans = models.JSONField(null=True, blank=True)  # a span project's final spans
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"review of item {self.item_id}: {self.label or self.labels}"
