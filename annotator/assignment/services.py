"""Hand out items, take annotations, skip and undo: the annotate hot path.

The rule (what is claimable, in what order, leases) is `annotator.assignment.rules`;
this module is its general executor, on every database, and the dispatcher. Claiming
is one locked read and two writes. On Postgres the read is
`SELECT ... FOR UPDATE SKIP LOCKED` on the item row whose `assigned < required`
condition every claimer updates, so concurrent claimers skip each other and a
re-checked row that was just filled drops out. On SQLite the settings open every
transaction IMMEDIATE, which serialises writers, so the same code hands out no
duplicates there either. On Postgres the common claim and label are each one statement
(`annotator.assignment.hotpath`, the second executor of the same rule); when it
matches nothing this module decides what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from annotator.assignment import gold, hotpath, rules
from annotator.models import Assignment
from annotator.quality import services as consensus_service
from projects import services as project_services
from projects.access import item_for_update
from projects.batches import room as rooms
from projects.batches import services as batch_services
from projects.label_sets import label_set_check
from projects.models import Annotation, Batch, Item, Project
from projects.span_answers import is_spans, spans_clean
from winnow.db import commit_without_flush
from winnow.errors import Conflict


@dataclass
class NextResult:
    assignment: Assignment | None
    reason: str = ""
    room: rooms.BatchRoom | None = None  # known from the claim, else counted


def assignment_next(*, project: Project, user: User, general: bool = False) -> NextResult:
    """The caller's current item, or the first item of the open batches they may claim.

    `general` runs the general executor alone, even where the one-statement claim could
    serve (the executors' agreement test compares the two).
    """
    result = None if general else _claim_in_one_statement(project, user)
    if result is None:
        leases_expire(project=project)
    for _attempt in range(3):
        if result is not None:
            break
        try:
            result = _claim(project, user)
        except IntegrityError:  # the same user raced themself from two tabs
            continue
    if result is None:
        return NextResult(None, "Could not claim an item; try again.")
    if result.assignment is not None:
        batch_services.batch_open_ahead(project=project, room=result.room)
    return result


def _claim_in_one_statement(project: Project, user: User) -> NextResult | None:
    """The common claim on PostgreSQL (`hotpath`); None: the general path decides."""
    if not hotpath.available() or not rules.claims_in_one_statement(project):
        return None
    for _attempt in range(2):
        try:
            claim = hotpath.claim(project=project, user=user, now=timezone.now())
        except IntegrityError:  # the same user raced themself from two tabs
            return None
        if not claim.stale:
            break
        leases_expire(project=project)
    if claim.assignment is None:
        return None
    return NextResult(claim.assignment, room=claim.room)


def _claim(project: Project, user: User) -> NextResult:
    now = timezone.now()
    expires_at = now + rules.lease_duration()
    with transaction.atomic():
        # A crash can lose only whole leases (the item is then free again), never a label.
        commit_without_flush()
        current = (
            rules.current_lease(project, user, now)
            .select_for_update(of=("self",))
            .select_related("item__batch")
            .first()
        )
        if current is not None:
            current.expires_at = expires_at
            current.save(update_fields=["expires_at"])
            return NextResult(current)
        item = _free_item(project, user)
        if item is None:
            if _open_batch(project) is None:
                return NextResult(None, _idle_reason(project))
            if rooms.may_open_another(project):
                batch_services.batch_open(project=project, another=True)
            # Look again whether or not another batch opened: the open one may have been
            # opened by a concurrent request after our first look.
            item = _free_item(project, user)
        if item is None:
            return NextResult(None, "Every item of the open batches is taken; more come soon.")
        gold_assignment = gold.gold_claim(project=project, user=user, expires_at=expires_at)
        if gold_assignment is not None:
            return NextResult(gold_assignment)
        Item.objects.filter(pk=item.pk).update(assigned=F("assigned") + 1)
        assignment = Assignment.objects.create(
            project=project, item=item, annotator=user, expires_at=expires_at
        )
        return NextResult(assignment)


def _free_item(project: Project, user: User) -> Item | None:
    """The first item the caller may claim, locked (others' locked rows are skipped)."""
    return (
        rules.claimable(project, user)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("batch")
        .first()
    )


def _open_batch(project: Project) -> Batch | None:
    batch = Batch.objects.filter(project=project, state=Batch.State.OPEN).first()
    if batch is None and project.state in (Project.State.COLLECTING, Project.State.TRAINING):
        batch = batch_services.batch_open(project=project, quick=True)
    return batch


def _idle_reason(project: Project) -> str:
    if project.state == Project.State.STOPPED:
        return f"The project has stopped: {project.stop_reason or 'stopped by its lead'}."
    if project.state == Project.State.SETUP:
        return "The project has no items yet: import a pool first."
    if project.state == Project.State.ARCHIVED:
        return "The project is archived."
    if project.state == Project.State.TRAINING:
        return "The model is retraining and the pool is empty for now."
    return "Nothing left to label: the pool is exhausted."


def leases_expire(*, project: Project) -> int:
    """Return abandoned items to the queue (each expired lease is released once)."""
    now = timezone.now()
    if not _any_expired(project, now):
        return 0
    with transaction.atomic():
        expired = rules.expired_leases(project, now).select_for_update(skip_locked=True)
        return _leases_release(expired)


def _leases_release(leases: QuerySet[Assignment]) -> int:
    """Release leases: each is marked expired once and its item's hand-out count drops,
    so the item is claimable again by anyone who has not had it. In a transaction."""
    released = list(leases.values_list("pk", "item_id")[:500])
    Assignment.objects.filter(pk__in=[pk for pk, _ in released]).update(
        state=Assignment.State.EXPIRED
    )
    for _pk, item_id in released:
        Item.objects.filter(pk=item_id, assigned__gt=0).update(assigned=F("assigned") - 1)
    return len(released)


@transaction.atomic
def member_remove(*, project: Project, username: str) -> None:
    """A member leaves the project: their leases are released at once, so their items go
    to others now rather than when the leases run out; their annotations stay theirs."""
    user = project_services.membership_remove(project=project, username=username)
    _leases_release(rules.member_leases(project, user).select_for_update())


_ANY_EXPIRED = "SELECT 1 FROM {table} a WHERE {expired} LIMIT 1".format(
    table=Assignment._meta.db_table, expired=rules.expired_leases_sql("a")
)


def _any_expired(project: Project, now: datetime) -> bool:
    """Every general hand-out asks first, so it is one plain query (an index range,
    usually empty)."""
    with connection.cursor() as cursor:
        cursor.execute(_ANY_EXPIRED, {"project": project.pk, "now": now})
        return cursor.fetchone() is not None


def _check_label(project: Project, label: object, confidence: object) -> tuple[str, int]:
    errors = {}
    if not isinstance(label, str) or label not in project.labels:
        errors["label"] = f"unknown label {label!r}; the project's labels are {project.labels}"
    if isinstance(confidence, bool) or not isinstance(confidence, int) or not 1 <= confidence <= 5:
        errors["confidence"] = "confidence must be an integer from 1 to 5"
    if errors:
        raise ValidationError(errors)
    assert isinstance(label, str) and isinstance(confidence, int)
    return label, confidence


@dataclass(frozen=True)
class Answer:
    """What an annotation says: one label, (multi-label projects) a set, or (span
    projects) spans, checked against the item's text once the item is read."""

    label: str
    labels: list[str] | None = None
    spans: list[dict[str, Any]] | None = None


def answer_check(project: Project, *, labels: object, spans: object = None) -> Answer:
    """A set or spans: each task takes its own answer and nothing else."""
    if spans is not None and not is_spans(project):
        raise ValidationError({"spans": 'only span projects take "spans"'})
    if is_spans(project):
        if labels is not None:
            raise ValidationError({"labels": 'a span project takes "spans", not "labels"'})
        if not isinstance(spans, list):
            raise ValidationError({"spans": 'a span project takes "spans": [{start, end, label}]'})
        return Answer("", spans=spans)
    if project.task != Project.Task.MULTILABEL:
        raise ValidationError({"labels": 'a single-label project takes "label", not a set'})
    if labels is None:
        raise ValidationError({"labels": 'a multi-label project takes "labels": [...]'})
    return Answer("", label_set_check(project, labels))


def annotation_submit(
    *,
    project: Project,
    user: User,
    item_id: object,
    label: object = None,
    confidence: object = 3,
    general: bool = False,
    labels: object = None,
    spans: object = None,
) -> tuple[Annotation, bool]:
    """Record a label (a multi-label set, or spans); a repeat of the same submission
    creates nothing (returns created=False).

    A different label for an item the caller already labelled is an edit (undo).
    `general` skips the one-statement submit, as in `assignment_next`. Sets and spans
    take the general path: the one-statement submit is for single labels.
    """
    if labels is not None or spans is not None or project.task != Project.Task.SINGLE:
        if is_spans(project) and label is not None:
            raise ValidationError({"label": 'a span project takes "spans", not "label"'})
        answer = answer_check(project, labels=labels, spans=spans)
        return _annotation_submit(project, user, item_id, answer, _check_confidence(confidence))
    label, confidence = _check_label(project, label, confidence)
    pk = _as_id(item_id)
    if hotpath.available() and pk is not None and not general:
        submitted = hotpath.submit(
            project=project,
            user=user,
            item_id=pk,
            label=label,
            confidence=confidence,
            now=timezone.now(),
        )
        if submitted is not None:
            if submitted.batch_id is not None:
                batch_services.batch_item_completed(batch_id=submitted.batch_id)
            return submitted.annotation, True
    return _annotation_submit(project, user, item_id, Answer(label), confidence)


def _check_confidence(confidence: object) -> int:
    if isinstance(confidence, bool) or not isinstance(confidence, int) or not 1 <= confidence <= 5:
        raise ValidationError({"confidence": "confidence must be an integer from 1 to 5"})
    return confidence


@transaction.atomic
def _annotation_submit(
    project: Project, user: User, item_id: object, answer: Answer, confidence: int
) -> tuple[Annotation, bool]:
    """The general path: edits, repeats, gold answers, items needing several labels,
    multi-label sets, spans."""
    item = item_for_update(project, item_id)
    if answer.spans is not None:
        answer = Answer("", spans=spans_clean(project, item.text, answer.spans))
    label = answer.label
    existing = Annotation.objects.filter(item=item, annotator=user).first()
    if existing is not None:
        said = (existing.label, existing.labels, existing.spans, existing.confidence)
        if said != (label, answer.labels, answer.spans, confidence):
            existing.label, existing.labels = label, answer.labels
            existing.spans, existing.confidence = answer.spans, confidence
            existing.save(update_fields=["label", "labels", "spans", "confidence"])
            if item.annotation_count >= item.required and item.state != Item.State.QUEUED:
                consensus_service.item_finalise(project=project, item=item)
        return existing, False
    if item.state != Item.State.QUEUED and gold.is_gold(item):
        return gold.gold_answer_submit(
            project=project,
            user=user,
            item=item,
            label=label,
            labels=answer.labels,
            spans=answer.spans,
            confidence=confidence,
        ), True
    assignment = _take_assignment(item, user)
    now = timezone.now()
    annotation = Annotation.objects.create(
        project=project,
        item=item,
        annotator=user,
        label=label,
        labels=answer.labels,
        spans=answer.spans,
        confidence=confidence,
        seconds=rules.seconds_spent(leased_at=assignment.created_at, now=now),
    )
    Item.objects.filter(pk=item.pk).update(annotation_count=F("annotation_count") + 1)
    item.annotation_count += 1  # the row is locked above, so this is the stored count
    if item.annotation_count >= item.required:
        consensus_service.item_finalise(project=project, item=item)
        if item.batch_id is not None:
            batch_services.batch_item_completed(batch_id=item.batch_id)
    return annotation, True


def _as_id(value: object) -> int | None:
    """An item id from JSON (int) or a form (digits); None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value < 2**63 else None


def _take_assignment(item: Item, user: User) -> Assignment:
    assignment = Assignment.objects.filter(item=item, annotator=user).first()
    if assignment is None or assignment.state in (Assignment.State.SKIPPED, Assignment.State.DONE):
        raise Conflict("This item is not assigned to you: ask for it with next/ first.")
    if item.state != Item.State.QUEUED or item.annotation_count >= item.required:
        raise Conflict("This item needs no more labels.")
    if assignment.state == Assignment.State.EXPIRED:
        if item.assigned >= item.required:
            raise Conflict("Your lease on this item expired and it went to someone else.")
        Item.objects.filter(pk=item.pk).update(assigned=F("assigned") + 1)
    assignment.state = Assignment.State.DONE
    assignment.save(update_fields=["state"])
    return assignment


@transaction.atomic
def assignment_skip(*, project: Project, user: User, item_id: object) -> None:
    """Give an item back. Others may still claim it while its batch is open, but it no
    longer holds the batch: the close rule (`projects.batches.closing.WAITING`) lets the
    batch close once everything else is labelled, and returns the item to the pool."""
    item = item_for_update(project, item_id)
    updated = Assignment.objects.filter(
        item=item, annotator=user, state__in=[Assignment.State.ACTIVE, Assignment.State.EXPIRED]
    )
    was_active = updated.filter(state=Assignment.State.ACTIVE).exists()
    if not updated.update(state=Assignment.State.SKIPPED):
        raise Conflict("This item is not assigned to you.")
    held = max(item.assigned - int(was_active), 0)  # the row is locked: this is the count
    Item.objects.filter(pk=item.pk).update(assigned=held, skips=F("skips") + 1)
    if item.batch_id is not None:
        batch_services.batch_item_completed(batch_id=item.batch_id)


def annotation_last(*, project: Project, user: User) -> Annotation | None:
    """The caller's most recent annotation in the project (what undo goes back to)."""
    return (
        Annotation.objects.select_related("item")
        .filter(project=project, annotator=user)
        .order_by("-created_at", "-pk")
        .first()
    )


def seconds_since(assignment: Assignment) -> float:
    return (timezone.now() - assignment.created_at).total_seconds()
