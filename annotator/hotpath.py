"""The annotate round trip on PostgreSQL: each step is one SQL statement.

Handing out an item and taking its label are what every annotator does all day,
many at once. Through the ORM a round trip was some twenty statements, and
building them cost more CPU than Postgres spent running them. Here a claim and a
submission are each a single statement with data-modifying CTEs, taking the same
row locks in the same order as the general path in :mod:`annotator.services`.

These only cover the common case. When a statement matches nothing (no free item,
a gold item, an edit, an expired lease, a wrong id), the caller runs the general
path, which decides what happened and says so. SQLite has no data-modifying
CTEs; there the general path does everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Model

from annotator.models import Annotation, Assignment
from projects.models import Batch, Item, Project

M = TypeVar("M", bound=Model)


def available() -> bool:
    return connection.vendor == "postgresql"


# The caller's unexpired lease (renewed), else the highest-ranked free item of the
# oldest open batch that the caller has not had, leased to them. `FOR UPDATE` on the
# lease and `SKIP LOCKED` on the item, as in `services._claim`; the item's text and
# its batch come back with it, so the response needs no further read.
_CLAIM = """
WITH mine AS (
    SELECT a.id FROM annotator_assignment a
    WHERE a.project_id = %(project)s AND a.annotator_id = %(user)s
      AND a.state = 'active' AND a.expires_at > %(now)s
    ORDER BY a.created_at LIMIT 1
    FOR UPDATE
), renewed AS (
    UPDATE annotator_assignment a SET expires_at = %(expires)s
    FROM mine WHERE a.id = mine.id
    RETURNING a.id, a.item_id, a.state, a.created_at
), free AS (
    SELECT i.id FROM projects_item i
    WHERE NOT EXISTS (SELECT 1 FROM mine)
      AND i.project_id = %(project)s AND i.state = 'queued' AND i.assigned < i.required
      AND NOT EXISTS (
          SELECT 1 FROM annotator_assignment x
          WHERE x.item_id = i.id AND x.annotator_id = %(user)s
      )
    ORDER BY i.batch_id, i.batch_rank
    LIMIT 1
    FOR UPDATE OF i SKIP LOCKED
), taken AS (
    UPDATE projects_item i SET assigned = i.assigned + 1
    FROM free WHERE i.id = free.id
    RETURNING i.id
), created AS (
    INSERT INTO annotator_assignment
        (project_id, item_id, annotator_id, state, created_at, expires_at)
    SELECT %(project)s, taken.id, %(user)s, 'active', %(now)s, %(expires)s FROM taken
    RETURNING id, item_id, state, created_at
), claimed AS (
    SELECT * FROM renewed UNION ALL SELECT * FROM created
)
SELECT c.id, c.state, c.created_at,
       i.id, i.text, i.image, i.meta::text, i.batch_id, i.batch_rank, i.is_holdout,
       b.number, b.size, b.remaining, b.state, b.kind
FROM claimed c
JOIN projects_item i ON i.id = c.item_id
LEFT JOIN projects_batch b ON b.id = i.batch_id
"""


def claim(*, project: Project, user: User, now: datetime, expires: datetime) -> Assignment | None:
    """The caller's lease (renewed) or a newly claimed item; None: ask the general path.

    Call inside a transaction. The assignment comes with its item and the item's
    batch attached, as `select_related` would give them.
    """
    params: dict[str, Any] = {
        "project": project.pk,
        "user": user.pk,
        "now": now,
        "expires": expires,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, params)
        row = cursor.fetchone()
    if row is None:
        return None
    a_id, a_state, a_created, *item_row = row
    item = _item(project, item_row[:7])
    assignment = Assignment(
        id=a_id,
        project=project,
        item=item,
        annotator=user,
        state=a_state,
        created_at=a_created,
        expires_at=expires,
    )
    assignment._state.adding = False
    if item.batch_id is not None:
        number, size, remaining, state, kind = item_row[7:]
        item.batch = Batch(
            id=item.batch_id,
            project=project,
            number=number,
            size=size,
            remaining=remaining,
            state=state,
            kind=kind,
        )
        item.batch._state.adding = False
    return assignment


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


# Record the caller's label for an item they hold an active lease on: lock the item
# (still short of labels, not gold), close the lease, add the annotation with the
# seconds since the hand-out, count it. Row locks in the general path's order.
_SUBMIT = """
WITH item AS (
    SELECT i.id FROM projects_item i
    WHERE i.id = %(item)s AND i.project_id = %(project)s AND i.state = 'queued'
      AND i.gold_label IS NULL AND i.annotation_count < i.required
    FOR UPDATE
), lease AS (
    UPDATE annotator_assignment a SET state = 'done'
    FROM item
    WHERE a.item_id = item.id AND a.annotator_id = %(user)s AND a.state = 'active'
    RETURNING a.created_at
), annotation AS (
    INSERT INTO annotator_annotation
        (project_id, item_id, annotator_id, label, confidence, seconds, created_at)
    SELECT %(project)s, %(item)s, %(user)s, %(label)s, %(confidence)s,
           LEAST(GREATEST(EXTRACT(EPOCH FROM (%(now)s - lease.created_at)), 0), %(max_seconds)s),
           %(now)s
    FROM lease
    RETURNING id, seconds
), counted AS (
    UPDATE projects_item i SET annotation_count = i.annotation_count + 1
    FROM annotation WHERE i.id = %(item)s
    RETURNING i.annotation_count, i.required, i.batch_id, i.state, i.label_source
)
SELECT annotation.id, annotation.seconds,
       counted.annotation_count, counted.required, counted.batch_id, counted.state,
       counted.label_source
FROM annotation, counted
"""


@dataclass(frozen=True)
class Submitted:
    annotation: Annotation
    item: Item  # with the fields consensus and batch progress read


def submit(
    *,
    project: Project,
    user: User,
    item_id: int,
    label: str,
    confidence: int,
    now: datetime,
    max_seconds: float,
) -> Submitted | None:
    """A new annotation on a leased item; None: the general path decides (call in a
    transaction, so that path sees the same locked row)."""
    params: dict[str, Any] = {
        "project": project.pk,
        "user": user.pk,
        "item": item_id,
        "label": label,
        "confidence": confidence,
        "now": now,
        "max_seconds": max_seconds,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SUBMIT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    a_id, seconds, count, required, batch_id, state, label_source = row
    annotation = Annotation(
        id=a_id,
        project=project,
        item_id=item_id,
        annotator=user,
        label=label,
        confidence=confidence,
        seconds=seconds,
        created_at=now,
    )
    annotation._state.adding = False
    item = _loaded(
        Item,
        id=item_id,
        project_id=project.pk,
        annotation_count=count,
        required=required,
        batch_id=batch_id,
        state=state,
        label_source=label_source,
    )
    return Submitted(annotation, item)
