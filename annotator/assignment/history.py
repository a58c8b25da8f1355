"""An annotator's recent labels in a project, and changing one of them.

A label can be changed while the item's batch is open: until then the batch's labels
have not been trained on, and a change is the same edit as undo makes (the one submit
path, `services.annotation_submit`). Once the batch closes the label is read-only here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.http import Http404

from annotator.assignment import services
from projects.models import Annotation, Batch, Project
from winnow.errors import Conflict

HISTORY_LIMIT = 50
CLOSED = "Its batch has closed: this label is read-only now."


@dataclass(frozen=True)
class HistoryEntry:
    annotation: Annotation
    editable: bool


def annotation_editable(annotation: Annotation) -> bool:
    batch = annotation.item.batch
    return batch is not None and batch.state == Batch.State.OPEN


def annotation_history(
    *, project: Project, user: User, limit: int = HISTORY_LIMIT
) -> list[HistoryEntry]:
    """The caller's last `limit` labels in the project, newest first (one query)."""
    annotations = (
        Annotation.objects.filter(project=project, annotator=user)
        .select_related("item__batch")
        .order_by("-created_at", "-pk")[:limit]
    )
    return [HistoryEntry(a, annotation_editable(a)) for a in annotations]


def _own_annotation(project: Project, user: User, item_id: object) -> Annotation:
    """The caller's label of an item (one per item and annotator); 404 if none."""
    try:
        pk = int(item_id)  # type: ignore[call-overload]
        return Annotation.objects.select_related("item__batch").get(
            project=project, annotator=user, item_id=pk
        )
    except (Annotation.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such label of yours in this project.") from None


def history_entry(*, project: Project, user: User, item_id: object) -> HistoryEntry:
    annotation = _own_annotation(project, user, item_id)
    return HistoryEntry(annotation, annotation_editable(annotation))


def annotation_change(
    *,
    project: Project,
    user: User,
    item_id: object,
    label: object,
    confidence: object,
    labels: object = None,
    spans: object = None,
) -> Annotation:
    """Change one of the caller's labels through the submit path; 409 once its batch
    has closed. The batch row is read, not locked: the submit locks the item and then
    the batch, and taking them in the other order here could deadlock with it."""
    annotation = _own_annotation(project, user, item_id)
    if not annotation_editable(annotation):
        raise Conflict(CLOSED)
    changed, _ = services.annotation_submit(
        project=project,
        user=user,
        item_id=annotation.item_id,
        label=label,
        labels=labels,
        spans=spans,
        confidence=confidence,
        general=True,
    )
    return changed
