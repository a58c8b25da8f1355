"""The annotate round trip on PostgreSQL: a claim and a label are one statement each.

Handing out an item and taking its label are what every annotator does all day,
many at once; as one statement each (with data-modifying CTEs, so each is its own
transaction, in autocommit) they cost one round trip and no ORM query building.
SQLite has no data-modifying CTEs, so these cannot be the single implementation;
they are a second executor of the rule in :mod:`annotator.assignment.rules`, whose
conditions, order and lease arithmetic they are rendered from, taking the same row
locks in the same order as the general path in :mod:`annotator.assignment.services`.
`tests/annotator/test_executors_agree.py` runs random scenarios through both
executors on PostgreSQL and asserts they agree.

They only cover the common case. When a statement matches nothing (no free item,
a gold item, an edit, an item needing several labels, an expired lease, a wrong
id), the caller runs the general path, which decides what happened and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Model

from annotator.assignment import rules
from annotator.models import Assignment
from annotator.quality.services import only_label_decision
from projects.batches.room import BatchRoom, batch_room_sql
from projects.models import Annotation, Batch, Item, Membership, Project
from winnow.db import execute_prepared

M = TypeVar("M", bound=Model)

_TABLES = {
    "assignment": Assignment._meta.db_table,
    "annotation": Annotation._meta.db_table,
    "item": Item._meta.db_table,
    "batch": Batch._meta.db_table,
    "membership": Membership._meta.db_table,
}


def available() -> bool:
    """The one-statement executor needs data-modifying CTEs (PostgreSQL)."""
    return connection.vendor == "postgresql"


# Nothing while a lease of the project waits to be released (expired leases are released
# before anyone claims; the caller does that and asks again). Else the caller's current
# lease (renewed), else the first claimable item, leased to them.
# `FOR UPDATE` on the lease and `SKIP LOCKED` on the item, as in `services._claim`; the
# item's text and its batch come back with it, so the response needs no further read,
# and so do the counts `BatchRoom` is made of (as the statement's snapshot saw them,
# before this claim) with the claimed item's own counts to correct them by.
_CLAIM = """
WITH stale AS (
    SELECT EXISTS (SELECT 1 FROM {assignment} s WHERE {expired}) AS found
), mine AS (
    SELECT a.id FROM {assignment} a WHERE NOT (SELECT found FROM stale) AND {current_lease}
    LIMIT 1
    FOR UPDATE
), renewed AS (
    UPDATE {assignment} a SET expires_at = %(expires)s
    FROM mine WHERE a.id = mine.id
    RETURNING a.id, a.item_id, a.state, a.created_at
), free AS (
    SELECT i.id, i.assigned, i.required, i.annotation_count FROM {item} i
    WHERE NOT EXISTS (SELECT 1 FROM mine) AND NOT (SELECT found FROM stale) AND {claimable}
    ORDER BY {claim_order}
    LIMIT 1
    FOR UPDATE OF i SKIP LOCKED
), taken AS (
    UPDATE {item} i SET assigned = i.assigned + 1
    FROM free WHERE i.id = free.id
    RETURNING i.id
), created AS (
    INSERT INTO {assignment}
        (project_id, item_id, annotator_id, state, created_at, expires_at)
    SELECT %(project)s, taken.id, %(user)s, '{active}', %(now)s, %(expires)s FROM taken
    RETURNING id, item_id, state, created_at
), claimed AS (
    SELECT * FROM renewed UNION ALL SELECT * FROM created
)
SELECT c.id, c.state, c.created_at,
       i.id, i.text, i.image, i.meta::text, i.batch_id, i.batch_rank, i.is_holdout,
       b.number, b.size, b.remaining, b.state, b.kind,
       room.open_batches, room.working, room.free, room.members,
       (SELECT f.assigned FROM free f), (SELECT f.required FROM free f),
       (SELECT f.annotation_count FROM free f),
       EXISTS (SELECT 1 FROM created), (SELECT found FROM stale),
       set_config('synchronous_commit', 'off', true)
FROM ({room}) AS room
LEFT JOIN claimed c ON true
LEFT JOIN {item} i ON i.id = c.item_id
LEFT JOIN {batch} b ON b.id = i.batch_id
""".format(
    **_TABLES,
    room=batch_room_sql(),
    expired=rules.expired_leases_sql("s"),
    current_lease=rules.current_lease_sql("a"),
    claimable=rules.claimable_sql("i", _TABLES["assignment"]),
    claim_order=rules.claim_order_sql("i"),
    active=rules.ACTIVE,
)


@dataclass(frozen=True)
class Claim:
    assignment: Assignment | None  # None: nothing claimed (see `stale`)
    stale: bool = False  # an expired lease waits to be released before anyone claims
    room: BatchRoom | None = None  # the open batches, this claim included


def claim(*, project: Project, user: User, now: datetime) -> Claim:
    """The caller's lease (renewed) or a newly claimed item, in one round trip. Without
    an assignment (and not `stale`) nothing is claimable here: the general path decides.

    One statement is one transaction, so this runs in autocommit. Its commit does not
    wait for the WAL flush: a crash can lose whole leases (the item is free again),
    never a label. The assignment comes with its item and the item's batch attached,
    as `select_related` would give them.
    """
    expires = now + rules.lease_duration()
    params: dict[str, Any] = {
        "project": project.pk,
        "user": user.pk,
        "now": now,
        "expires": expires,
    }
    with connection.cursor() as cursor:
        execute_prepared(cursor, _CLAIM, params)
        a_id, a_state, a_created, *item_row = cursor.fetchone()
    opened, working, free, members, assigned, required, annotated, new, stale, _ = item_row[12:]
    if a_id is None:
        return Claim(None, stale=bool(stale))
    room = BatchRoom(int(opened), int(working), int(free), int(members))
    if new:
        room = rules.room_after_claim(
            room, assigned=assigned, required=required, annotation_count=annotated
        )
    item = _item(project, item_row[:7])
    assignment = _loaded(
        Assignment,
        id=a_id,
        project_id=project.pk,
        item_id=item.pk,
        annotator_id=user.pk,
        state=a_state,
        created_at=a_created,
        expires_at=expires,
    )
    assignment.project, assignment.item, assignment.annotator = project, item, user
    if item.batch_id is not None:
        number, size, remaining, state, kind = item_row[7:12]
        item.batch = _loaded(
            Batch,
            id=item.batch_id,
            project_id=project.pk,
            number=number,
            size=size,
            remaining=remaining,
            state=state,
            kind=kind,
        )
    return Claim(assignment, room=room)


def _item(project: Project, row: list[Any]) -> Item:
    """An item with the columns the annotate views show; other fields load on access."""
    pk, text, image, meta, batch_id, batch_rank, is_holdout = row
    item = _loaded(
        Item,
        id=pk,
        project_id=project.pk,
        text=text,
        image=image,
        meta=json.loads(meta),
        batch_id=batch_id,
        batch_rank=batch_rank,
        is_holdout=is_holdout,
    )
    item.project = project
    return item


def _loaded(model: type[M], **values: Any) -> M:
    """An instance as if read from the database with only these columns (by attname)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])


# Record the caller's label for an item they hold an active lease on and that one label
# settles (`rules.ONE_LABEL`): lock the item, close the lease, add the annotation with
# the seconds since the hand-out, and settle the item with the decision its consensus
# takes on this one label. Row locks in the general path's order.
_SUBMIT = """
WITH item AS (
    SELECT i.id FROM {item} i
    WHERE i.id = %(item)s AND i.project_id = %(project)s AND {one_label}
    FOR UPDATE
), lease AS (
    UPDATE {assignment} a SET state = '{done}'
    FROM item
    WHERE a.item_id = item.id AND a.annotator_id = %(user)s AND a.state = '{active}'
    RETURNING a.created_at
), annotation AS (
    INSERT INTO {annotation}
        (project_id, item_id, annotator_id, label, confidence, seconds, created_at)
    SELECT %(project)s, %(item)s, %(user)s, %(label)s, %(confidence)s, {seconds}, %(now)s
    FROM lease
    RETURNING id, seconds
), settled AS (
    UPDATE {item} i
    SET annotation_count = 1, state = %(state)s, label = %(final_label)s,
        label_source = %(label_source)s, consensus_support = %(support)s,
        consensus_method = %(method)s
    FROM annotation WHERE i.id = %(item)s
    RETURNING i.batch_id
)
SELECT annotation.id, annotation.seconds, settled.batch_id FROM annotation, settled
""".format(
    **_TABLES,
    one_label=rules.one_label_sql("i"),
    seconds=rules.seconds_sql("lease.created_at"),
    active=rules.ACTIVE,
    done=rules.DONE,
)


@dataclass(frozen=True)
class Submitted:
    annotation: Annotation
    batch_id: int | None


def submit(
    *,
    project: Project,
    user: User,
    item_id: int,
    label: str,
    confidence: int,
    now: datetime,
) -> Submitted | None:
    """A new annotation on a leased item that needs one label, which it settles; one
    statement (autocommit). None: the general path decides."""
    annotation = Annotation(
        project=project,
        item_id=item_id,
        annotator=user,
        label=label,
        confidence=confidence,
        created_at=now,
    )
    decision = only_label_decision(project=project, annotation=annotation)
    params: dict[str, Any] = {
        "project": project.pk,
        "user": user.pk,
        "item": item_id,
        "label": label,
        "confidence": confidence,
        "now": now,
        "max_seconds": rules.MAX_SECONDS,
        "state": decision.state,
        "final_label": decision.label,
        "label_source": decision.label_source,
        "support": decision.support,
        "method": decision.method,
    }
    with connection.cursor() as cursor:
        execute_prepared(cursor, _SUBMIT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    annotation.id, annotation.seconds, batch_id = row
    annotation._state.adding = False  # saved by the statement
    return Submitted(annotation, batch_id)
