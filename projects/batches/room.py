"""The batch room: when the next batch opens while others are still open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from projects.models import (
    Batch,
    Item,
    Membership,
    Project,
)
from winnow.db import execute_prepared

# Batches open at once: the next opens before the open ones run dry, so many annotators
# never wait for the last items of a batch (nor for its retrain). This many at least;
# more while more items are being worked on (`BatchRoom.may_open_another`).
MAX_OPEN_BATCHES = 3


def may_open_another(project: Project) -> bool:
    """A lock-free pre-check, so waiting annotators don't queue on the project row."""
    return batch_room(project).may_open_another


@dataclass(frozen=True)
class BatchRoom:
    open_batches: int
    working: int  # queued items someone holds a lease on
    free: int  # queued items still short of leases
    members: int  # the project's members: how many may ask for an item at once

    @property
    def enough_free(self) -> bool:
        """Whether the open batches still have about four free items for each item being
        worked on, and one for each member (one, with a single member).

        So with many annotators the next batch opens well before the open ones run dry:
        nobody waits on whoever opens it, even when opening is slow under load or waits for
        a retrain's refresh of the last batch (with two per item, 16 annotators ran dry
        and queued on the batches lock). Annotators who label in a blink hold an item only
        for an instant, so few items are being worked on; one free item per member still
        covers them all asking at once while the next batch opens (16 such annotators ran
        dry some 30 times a minute). With a single member only once every item is out.
        """
        return self.free >= max(1, 4 * self.working - 3, self.members)

    @property
    def may_open_another(self) -> bool:
        """Below MAX_OPEN_BATCHES, or below one more batch than items being worked on.

        A batch stays open while anyone holds one of its items, and an open batch that
        nobody holds an item of has free items. So with one more open batch than items
        in progress somebody's slow item can never leave the others with nothing to do.
        """
        return self.open_batches < max(MAX_OPEN_BATCHES, self.working + 1)


# The states are literals, not parameters: the statement is prepared (winnow.db), and a
# generic plan that can't see the state scanned the project's items instead of the few
# queued ones.
_BATCH_ROOM = """
SELECT (SELECT count(*) FROM {batch} WHERE project_id = %(project)s AND state = '{open}')
           AS open_batches,
       COALESCE(SUM(CASE WHEN assigned > annotation_count THEN 1 ELSE 0 END), 0) AS working,
       COALESCE(SUM(CASE WHEN assigned < required THEN 1 ELSE 0 END), 0) AS free,
       (SELECT count(*) FROM {membership} WHERE project_id = %(project)s) AS members
FROM {item} WHERE project_id = %(project)s AND state = '{queued}'
"""


def batch_room_sql() -> str:
    """The statement `BatchRoom` is counted by (columns `open_batches`, `working`, `free`,
    `members`; parameter `project`): the one definition, which the claim statement
    (`annotator.assignment.hotpath`) also runs as a subquery."""
    return _BATCH_ROOM.format(
        batch=Batch._meta.db_table,
        item=Item._meta.db_table,
        membership=Membership._meta.db_table,
        open=Batch.State.OPEN.value,
        queued=Item.State.QUEUED.value,
    )


def batch_room(project: Project) -> BatchRoom:
    """Open batches and their queued items' leases, in one plain statement: every
    hand-out asks, so it costs no ORM query building."""
    params: dict[str, Any] = {"project": project.pk}
    with connection.cursor() as cursor:
        execute_prepared(cursor, batch_room_sql(), params)
        open_batches, working, free, members = cursor.fetchone()
    return BatchRoom(int(open_batches), int(working), int(free), int(members))
