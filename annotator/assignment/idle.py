"""What an annotator with nothing to label is told: what they did, and when more comes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import F

from annotator.assignment import rules
from projects.models import Annotation, Item, ModelVersion, Project
from projects.training.services import OWED


def idle_summary(project: Project, user: User) -> dict[str, Any]:
    """How many items the caller labelled here, and what will bring more: items others
    hold (they come back if given back or their lease runs out), a retrain in progress
    (the next batch is picked from it), or unlabelled items waiting for a batch."""
    queued = Item.objects.filter(project=project, state=Item.State.QUEUED)
    return {
        "labelled": Annotation.objects.filter(project=project, annotator=user).count(),
        "held_by_others": queued.filter(assigned__gt=F("annotation_count"))
        .exclude(assignments__annotator=user)
        .count(),
        "lease_minutes": max(1, round(rules.lease_duration().total_seconds() / 60)),
        "training": ModelVersion.objects.filter(project=project, status__in=OWED).exists(),
        "pool": Item.objects.filter(project=project, state=Item.State.POOL).count(),
        "active": project.state in (Project.State.COLLECTING, Project.State.TRAINING),
    }
