"""The review queue: a reviewer's decision is final; or the item goes back for one more label.

A decision makes the item `labeled` with `label_source="review"` and is recorded
in `ReviewDecision` (who, when). Retraining: the decision that empties the review
queue (or the project's `batch_size`-th decision since the last retrain was
requested) asks for a retrain, so reviewed labels reach the model even when no
batch is closing; otherwise the next batch's retrain picks them up.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max

from annotator.models import Assignment, ReviewDecision
from projects.access import item_for_update
from projects.batches import services as batch_services
from projects.models import Batch, Item, Membership, ModelVersion, Project, SelectionLog
from projects.training import services as training_services
from winnow.errors import Conflict

REVIEW_TRIGGER = "review"


@transaction.atomic
def review_decide(
    *, project: Project, user: User, item_id: object, label: object
) -> tuple[ReviewDecision, bool]:
    """Give a waiting item its final label; repeating the same decision changes nothing."""
    if not isinstance(label, str) or label not in project.labels:
        raise ValidationError({"label": f"unknown label {label!r}; labels are {project.labels}"})
    item = item_for_update(project, item_id)
    existing = ReviewDecision.objects.filter(item=item).first()
    if existing is not None:
        if existing.label != label:
            raise Conflict(f"This item was already decided ({existing.label!r}); that is final.")
        return existing, False
    if item.state != Item.State.REVIEW:
        raise Conflict("This item is not waiting for review.")
    decision = ReviewDecision.objects.create(item=item, reviewer_id=user.pk, label=label)
    Item.objects.filter(pk=item.pk).update(
        state=Item.State.LABELED, label=label, label_source=Item.LabelSource.REVIEW
    )
    _retrain_when_due(project)
    return decision, True


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
