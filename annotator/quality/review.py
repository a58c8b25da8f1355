"""The review queue: a reviewer's decision is final; or the item goes back for one more label.

A decision makes the item `labeled` with `label_source="review"` and is recorded
in `ReviewDecision` (who, when). A lead's relabel is the same decision (`_decide`) with
`label_source="lead"`, which overrides a reviewer's, plus the lead's own annotation; a
lead may also send items to the queue (`items_review_send`).

Retraining: the decision that empties the review queue (or the project's
`batch_size`-th decision since the last retrain was requested) asks for a retrain, so
reviewed labels reach the model even when no batch is closing; otherwise the next
batch's retrain picks them up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from annotator.models import Assignment, ReviewDecision
from projects.access import item_for_update
from projects.batches import services as batch_services
from projects.label_sets import is_multilabel, label_set_check
from projects.models import (
    Annotation,
    Batch,
    Item,
    Membership,
    ModelVersion,
    Project,
    SelectionLog,
)
from projects.span_answers import is_spans, spans_clean
from projects.state import project_writable
from projects.training import services as training_services
from winnow.errors import Conflict

REVIEW_TRIGGER = "review"


@dataclass(frozen=True)
class Final:
    """A final answer: one label, (multi-label projects) a set, or (span projects) spans."""

    label: str
    labels: list[str] | None = None
    spans: list[dict[str, Any]] | None = None

    def shown(self) -> str:
        if self.spans is not None:
            return repr(self.spans)
        return repr(self.labels) if self.labels is not None else repr(self.label)


def final_check(
    project: Project, *, label: object, labels: object = None, spans: object = None
) -> Final:
    """The answer the project's task takes: spans on span projects (checked against the
    item's text by `final_on`), a set on multi-label projects, else a label."""
    if spans is not None and not is_spans(project):
        raise ValidationError({"spans": 'only span projects take "spans"'})
    if is_spans(project):
        if label or labels is not None:
            raise ValidationError({"spans": 'a span project takes "spans", not a label'})
        if not isinstance(spans, list):
            raise ValidationError({"spans": 'a span project takes "spans": [{start, end, label}]'})
        return Final("", spans=spans)
    if is_multilabel(project):
        if labels is None:
            raise ValidationError({"labels": 'a multi-label project takes "labels": [...]'})
        return Final("", label_set_check(project, labels))
    if not isinstance(label, str) or label not in project.labels:
        raise ValidationError({"label": f"unknown label {label!r}; labels are {project.labels}"})
    return Final(label)


def final_on(project: Project, final: Final, item: Item) -> Final:
    """`final` for this item: spans cleaned against its text (stored as `spans_clean` says)."""
    if final.spans is None:
        return final
    return replace(final, spans=spans_clean(project, item.text, final.spans))


@transaction.atomic
def review_decide(
    *,
    project: Project,
    user: User,
    item_id: object,
    label: object,
    labels: object = None,
    spans: object = None,
) -> tuple[ReviewDecision, bool]:
    """Give a waiting item its final label (set, or spans); repeating the same decision
    changes nothing."""
    final = final_check(project, label=label, labels=labels, spans=spans)
    item = item_for_update(project, item_id)
    final = final_on(project, final, item)
    existing = ReviewDecision.objects.filter(item=item).first()
    if existing is not None:
        before = Final(existing.label, existing.labels, existing.spans)
        if before != final:
            was = before.shown()
            raise Conflict(f"This item was already decided ({was}); that is final.")
        return existing, False
    if item.state != Item.State.REVIEW:
        raise Conflict("This item is not waiting for review.")
    decision = _decide(project, item, user, final, Item.LabelSource.REVIEW)
    return decision, True


def _decide(project: Project, item: Item, user: User, final: Final, source: str) -> ReviewDecision:
    """The final label, recorded (who decided, when); reviewed labels reach the model."""
    decision, _ = ReviewDecision.objects.update_or_create(
        item=item,
        defaults={
            "reviewer_id": user.pk,
            "label": final.label,
            "labels": final.labels,
            "spans": final.spans,
            "created_at": timezone.now(),
        },
    )
    Item.objects.filter(pk=item.pk).update(
        state=Item.State.LABELED,
        label=final.label or None,
        labels=final.labels,
        spans=final.spans,
        label_source=source,
    )
    _retrain_when_due(project)
    return decision


# A lead may relabel items that are not being worked on: not in an open batch (annotators
# hold leases on them), not gold (`gold_set` changes a gold item's true label), not excluded.
RELABELLABLE = (Item.State.POOL, Item.State.LABELED, Item.State.REVIEW, Item.State.PREDICTED)
LEAD_CONFIDENCE = 5


@transaction.atomic
def item_relabel(
    *,
    project: Project,
    user: User,
    item_id: object,
    label: object,
    labels: object = None,
    spans: object = None,
) -> Item:
    """The lead sets an item's final label (set, or spans): recorded as the lead's
    annotation (confidence 5) and as the item's decision, with `label_source="lead"`,
    which consensus never re-decides."""
    final = final_check(project, label=label, labels=labels, spans=spans)
    project_writable(project)
    item = item_for_update(project, item_id)
    final = final_on(project, final, item)
    if item.state not in RELABELLABLE:
        raise Conflict(f"The item is {item.get_state_display()}: it cannot be relabelled now.")
    _, created = Annotation.objects.update_or_create(
        item=item,
        annotator=user,
        defaults={
            "project": project,
            "label": final.label,
            "labels": final.labels,
            "spans": final.spans,
            "confidence": LEAD_CONFIDENCE,
        },
    )
    if created:
        Item.objects.filter(pk=item.pk).update(
            annotation_count=F("annotation_count") + 1, assigned=F("assigned") + 1
        )
    _decide(project, item, user, final, Item.LabelSource.LEAD)
    item.refresh_from_db()
    return item


# Items a lead may send to review: labelled (a second look), left to the model, or never
# labelled. Items in a batch or already waiting are refused, as are gold and excluded ones.
SENDABLE = (Item.State.POOL, Item.State.LABELED, Item.State.PREDICTED)


def items_review_send(*, project: Project, items: list[Item]) -> list[dict[str, object]]:
    """Send (locked) items to the review queue without their label; the reviewer's
    decision will be final (an earlier decision is replaced by it). The `lead` source
    keeps consensus from deciding them again. Returns the refusals, per item."""
    refused: list[dict[str, object]] = []
    sendable = []
    for item in items:
        if item.state not in SENDABLE:
            refused.append({"item": item.pk, "error": f"the item is {item.get_state_display()}"})
        else:
            sendable.append(item.pk)
    ReviewDecision.objects.filter(item_id__in=sendable).delete()
    Item.objects.filter(pk__in=sendable).update(
        state=Item.State.REVIEW,
        label=None,
        labels=None,
        spans=None,
        label_source=Item.LabelSource.LEAD,
    )
    return refused


def _retrain_when_due(project: Project) -> None:
    queue_empty = not Item.objects.filter(project=project, state=Item.State.REVIEW).exists()
    last = ModelVersion.objects.filter(project=project).aggregate(at=Max("requested_at"))["at"]
    decisions = ReviewDecision.objects.filter(item__project=project)
    if last is not None:
        decisions = decisions.filter(created_at__gt=last)
    if queue_empty or decisions.count() >= project.batch_size:
        training_services.retrain_request(project=project, trigger=REVIEW_TRIGGER)


@transaction.atomic
def review_send_back(*, project: Project, user: User, item_id: object) -> Item:
    """Return a waiting item to the open batch for one more annotator's label."""
    item = item_for_update(project, item_id)
    if item.state != Item.State.REVIEW:
        raise Conflict("This item is not waiting for review.")
    if project.state not in (Project.State.COLLECTING, Project.State.TRAINING):
        raise Conflict(f"The project is {project.state}: nobody is labelling; decide the label.")
    seen = Assignment.objects.filter(item=item).values("annotator_id")
    if not Membership.objects.filter(project=project).exclude(user_id__in=seen).exists():
        raise Conflict("Every member has already seen this item; decide the label instead.")
    batch = _batch_for(project)
    Item.objects.filter(pk=item.pk).update(
        state=Item.State.QUEUED,
        batch=batch,
        batch_rank=0,
        label=None,
        labels=None,
        spans=None,
        label_source="",
        required=F("annotation_count") + 1,
        assigned=F("annotation_count"),
    )
    rank = SelectionLog.objects.filter(batch=batch).aggregate(r=Max("rank"))["r"]
    SelectionLog.objects.create(
        batch=batch,
        item=item,
        rank=0 if rank is None else rank + 1,
        reason="sent_back",
        strategy=REVIEW_TRIGGER,
        components={"reviewer": user.pk},
    )
    Batch.objects.filter(pk=batch.pk).update(size=F("size") + 1, remaining=F("remaining") + 1)
    item.refresh_from_db()
    return item


def _batch_for(project: Project) -> Batch:
    """The open batch; a new one from the pool; or, with the pool empty, a batch for this item."""
    batch_services.batches_lock(project)
    locked = Project.objects.get(pk=project.pk)
    batch = Batch.objects.filter(project=locked, state=Batch.State.OPEN).first()
    if batch is None:
        batch = batch_services.batch_open(project=locked, quick=True)
    if batch is None:
        number = Batch.objects.filter(project=locked).aggregate(n=Max("number"))["n"] or 0
        batch = Batch.objects.create(
            project=locked,
            number=number + 1,
            kind=Batch.Kind.STALE,
            strategy=REVIEW_TRIGGER,
            selector=locked.selector,
        )
    return batch
