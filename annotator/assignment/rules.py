"""Who gets which item next: the assignment rule, written once.

An item is claimable by an annotator when it is queued (so in an open batch), still
short of leases (`assigned < required`) and the annotator has never had it. Claims
take the oldest batch first, then the batch's own ranking. A lease lasts
`WINNOW_LEASE_SECONDS`; asking again renews the caller's unexpired lease (their oldest
one) instead of claiming; expired leases are released before anyone claims. Gold items
are mixed in per claim (`annotator.assignment.gold`).

Two executors run this rule: the general path (`services`, the ORM, every database)
and, on PostgreSQL, one statement each for the common claim and the one-label submit
(`hotpath`). Both take their conditions, order, lease arithmetic and seconds from
here; `tests/annotator/test_executors_agree.py` drives random scenarios through both
and asserts they hand out the same items and write the same rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F, Q, QuerySet

from annotator.models import Assignment
from projects.batches.room import BatchRoom
from projects.models import Item, Project

ACTIVE = Assignment.State.ACTIVE.value
DONE = Assignment.State.DONE.value
QUEUED = Item.State.QUEUED.value

# Oldest batch first (batch ids grow as batches open), then the batch's ranking.
CLAIM_ORDER = ("batch_id", "batch_rank")
# The caller's current lease when they hold several (a gold item and a batch item).
LEASE_ORDER = "created_at"

# Longest time an annotation is credited with, so a lease left open overnight does not
# count as a day of work in the annotator stats and the cost model.
MAX_SECONDS = 3600.0


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.WINNOW_LEASE_SECONDS)


def seconds_spent(*, leased_at: datetime, now: datetime) -> float:
    """The time an annotation is credited with: since its lease began, within bounds."""
    return min(max((now - leased_at).total_seconds(), 0.0), MAX_SECONDS)


def seconds_sql(leased_at: str) -> str:
    """`seconds_spent` in PostgreSQL (params `now` and `max_seconds`)."""
    return f"LEAST(GREATEST(EXTRACT(EPOCH FROM (%(now)s - {leased_at})), 0), %(max_seconds)s)"


def claims_in_one_statement(project: Project) -> bool:
    """Whether a claim may skip the gold draw: gold hand-outs are drawn per claim."""
    return project.gold_fraction <= 0


# -- the claimable items, as a queryset and as SQL ---------------------------------


def claimable(project: Project, user: User) -> QuerySet[Item]:
    """The items `user` may claim in `project`, in claim order."""
    return (
        Item.objects.filter(project=project, state=QUEUED, assigned__lt=F("required"))
        .exclude(assignments__annotator=user)
        .order_by(*CLAIM_ORDER)
    )


def claimable_sql(item: str, assignment_table: str) -> str:
    """`claimable` as a WHERE clause over alias `item` (params `project` and `user`)."""
    return (
        f"{item}.project_id = %(project)s AND {item}.state = '{QUEUED}'"
        f" AND {item}.assigned < {item}.required"
        f" AND NOT EXISTS (SELECT 1 FROM {assignment_table} x"
        f" WHERE x.item_id = {item}.id AND x.annotator_id = %(user)s)"
    )


def claim_order_sql(item: str) -> str:
    return ", ".join(f"{item}.{column}" for column in CLAIM_ORDER)


def current_lease(project: Project, user: User, now: datetime) -> QuerySet[Assignment]:
    """The caller's unexpired leases, current first. An expired one is not handed back,
    even before its release: that item may already be going to someone else."""
    return Assignment.objects.filter(
        project=project, annotator=user, state=ACTIVE, expires_at__gt=now
    ).order_by(LEASE_ORDER)


def current_lease_sql(assignment: str) -> str:
    """`current_lease` as a WHERE clause and order (params `project`, `user`, `now`)."""
    return (
        f"{assignment}.project_id = %(project)s AND {assignment}.annotator_id = %(user)s"
        f" AND {assignment}.state = '{ACTIVE}' AND {assignment}.expires_at > %(now)s"
        f" ORDER BY {assignment}.{LEASE_ORDER}"
    )


def expired_leases(project: Project, now: datetime) -> QuerySet[Assignment]:
    """Leases past their time and not yet released: released before anyone claims."""
    return Assignment.objects.filter(project=project, state=ACTIVE, expires_at__lte=now)


def expired_leases_sql(assignment: str) -> str:
    """`expired_leases` as a WHERE clause (params `project` and `now`)."""
    return (
        f"{assignment}.project_id = %(project)s AND {assignment}.state = '{ACTIVE}'"
        f" AND {assignment}.expires_at <= %(now)s"
    )


def member_leases(project: Project, user: User) -> QuerySet[Assignment]:
    """A leaving member's unfinished leases, expired or not: released when they go."""
    return Assignment.objects.filter(project=project, annotator=user, state=ACTIVE)


# -- the submit that settles an item ------------------------------------------------

# An item that one label settles: queued, not gold (a gold answer never settles the
# item), needing one label and having none yet.
ONE_LABEL = Q(state=QUEUED, gold_label=None, required=1, annotation_count=0)


def one_label_sql(item: str) -> str:
    """`ONE_LABEL` as a WHERE clause over alias `item`."""
    return (
        f"{item}.state = '{QUEUED}' AND {item}.gold_label IS NULL"
        f" AND {item}.required = 1 AND {item}.annotation_count = 0"
    )


# -- the open batches after a claim -------------------------------------------------


def room_after_claim(
    before: BatchRoom, *, assigned: int, required: int, annotation_count: int
) -> BatchRoom:
    """The batch room once an item with these counts (before the claim) got one more lease.

    The item starts being worked on unless someone already was, and stops being free
    when this lease was its last one missing: what `batch_room` would count afterwards.
    """
    starts = assigned == annotation_count
    fills = assigned + 1 >= required
    return BatchRoom(
        before.open_batches,
        before.working + int(starts),
        before.free - int(fills),
        before.members,
    )
