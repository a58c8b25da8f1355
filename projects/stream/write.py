"""A stream decision's write on Postgres: one statement per group of arrivals, no lock
held across round trips.

The stream state (threshold and budget counters, ``strategies.stream``) must move
exactly once per arrival, in order, however many posts run at once. Instead of
locking the project row, reading, deciding and writing (four round trips with the
lock held, serialising every post behind the slowest), the decisions are made on
the state this process last saw, and one statement compares and swaps it: it
updates the project row only if the stream state, budget and state are still those
the decisions saw, and inserts the items in the same statement, so all or nothing
lands. A swap that finds another writer went first returns the current values and
the decisions are made again; after ``OPTIMISTIC_TRIES`` the row is locked first,
so a post cannot starve.

Posts of one project in one process take turns (a thread lock), and whoever holds
the turn writes every arrival waiting for it from the same caller, in arrival
order, in that one statement (flat combining): under load the statement's round
trip and the database's per-statement work are shared by the waiting posts
instead of queueing them one round trip each. If a group's write fails, only the
post that wrote it gets the error; the others go back to waiting and write again.

The same statement re-checks what ``projects.stream.access`` remembers about the
caller (token, membership and role, latest model version, the project's labels);
if any changed nothing is written and ``StaleCaller`` is raised.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from projects.models import Item, Project
from projects.state import ITEMS_ARRIVED
from projects.stream.access import StreamCaller
from winnow.db import execute_prepared

if TYPE_CHECKING:
    from projects.stream.services import Decision

OPTIMISTIC_TRIES = 3
MAX_GROUP = 64  # arrivals written by one statement

_SQL = """
WITH facts AS (
    SELECT p.id, p.stream_state, p.stream_budget, p.state, p.labels, p.random_state, {relax}
        EXISTS (
            SELECT 1 FROM auth_user u
            WHERE u.id = %(user)s AND u.is_active
              AND ((u.is_staff AND %(role)s = 'lead') OR EXISTS (
                  SELECT 1 FROM projects_membership m
                  WHERE m.project_id = p.id AND m.user_id = u.id AND m.role = %(role)s))
              AND (%(token)s::text IS NULL OR EXISTS (
                  SELECT 1 FROM authtoken_token t WHERE t.key = %(token)s AND t.user_id = u.id))
        ) AS caller_ok,
        (SELECT max(v.version) FROM projects_modelversion v
         WHERE v.project_id = p.id AND v.status = 'done') AS version,
        -- whether the open batch has room for queried items (else they wait for the next)
        COALESCE((SELECT b.size < p.batch_size FROM projects_batch b
                  WHERE b.project_id = p.id AND b.state = 'open'
                  ORDER BY b.number LIMIT 1), true) AS room
    FROM projects_project p
    WHERE p.id = %(project)s
), moved AS (
    UPDATE projects_project p SET stream_state = %(new)s, state = %(next_state)s
    FROM facts f
    WHERE p.id = f.id AND f.caller_ok AND f.version IS NOT DISTINCT FROM %(version)s
      AND p.stream_state = %(seen_state)s AND p.state = %(state)s
      AND p.stream_budget IS NOT DISTINCT FROM %(budget)s
      AND p.labels = %(labels)s AND p.random_state = %(random_state)s
    RETURNING p.id
), item AS (
    INSERT INTO projects_item ({columns}) SELECT {values} FROM {source} RETURNING id
)
SELECT (SELECT array_agg(id ORDER BY id) FROM item), f.stream_state, f.stream_budget, f.state,
       f.labels, f.random_state, f.caller_ok, f.version, f.room
FROM facts f
"""


@dataclass
class _Found:
    """The project's stream columns as the last write (or failed swap) found them."""

    stream_state: dict[str, Any]
    budget: float | None
    state: str


@dataclass(eq=False)
class _Post:
    """One arrival waiting for its project's turn, and what became of it."""

    caller: StreamCaller
    token: str | None
    decision: Decision
    done: bool = False
    result: tuple[dict[str, Any], bool] | None = None  # the stored row (with "id"), query


@dataclass(eq=False)
class _Turn:
    """A project's turn to write in this process, and the posts waiting for it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: deque[_Post] = field(default_factory=deque)
    guard: threading.Lock = field(default_factory=threading.Lock)  # for ``waiting``

    def group(self, me: _Post) -> list[_Post]:
        """``me`` and the posts waiting with the same caller, in arrival order."""
        with self.guard:
            group: list[_Post] = []
            rest: deque[_Post] = deque()
            for post in self.waiting:
                same = post.caller is me.caller and post.token == me.token
                (group if same and len(group) < MAX_GROUP or post is me else rest).append(post)
            self.waiting = rest
        return group

    def give_back(self, posts: list[_Post]) -> None:
        with self.guard:
            self.waiting.extendleft(reversed(posts))


_found: dict[int, _Found] = {}
_turns: dict[int, _Turn] = {}
_turns_lock = threading.Lock()


def _turn(project_id: int) -> _Turn:
    with _turns_lock:
        return _turns.setdefault(project_id, _Turn())


def decide_and_write(
    caller: StreamCaller, token: str | None, decision: Decision
) -> tuple[dict[str, Any], bool]:
    """Decide on the current stream state and store the item with the new state, exactly
    once; the stored row (``Decision.row`` with its "id") and whether it was queried."""
    turn = _turn(caller.project.pk)
    me = _Post(caller, token, decision)
    with turn.guard:
        turn.waiting.append(me)
    with turn.lock:
        if not me.done:
            group = turn.group(me)
            try:
                _write_group(group)
            except BaseException:
                turn.give_back([post for post in group if post is not me])
                raise
    assert me.result is not None
    return me.result


def _write_group(group: list[_Post]) -> None:
    first = group[0]
    project_id = first.caller.project.pk
    found = _found.get(project_id) or _current_state(project_id)
    tries = 0
    while True:
        tries += 1
        written, facts = _attempt(group, found, lock=tries > OPTIMISTIC_TRIES)
        if facts is None or not _caller_holds(first.caller, facts):
            _found.pop(project_id, None)
            raise _stale()
        if written is not None:
            _found[project_id] = written
            for post in group:
                post.done = True
            return
        found = _Found(_loads(facts[1]) or {}, facts[2], facts[3])


def _attempt(
    group: list[_Post], found: _Found, *, lock: bool
) -> tuple[_Found | None, tuple[Any, ...] | None]:
    if not lock:
        return _write(group, found)
    with transaction.atomic():
        return _write(group, _locked_state(group[0].caller.project.pk))


def _write(group: list[_Post], found: _Found) -> tuple[_Found | None, tuple[Any, ...] | None]:
    """Decide every post on ``found`` in turn and swap it for the last new state; the
    state written (None if the swap failed) and the facts found.

    Without a query it is one statement in autocommit; queried items also go into a
    batch, in the same transaction (the project row stays locked by the update).
    """
    from projects.stream.services import StreamClosed, stream_enqueue

    first = group[0]
    caller, project = first.caller, first.caller.project
    if found.state == Project.State.ARCHIVED:
        raise StreamClosed("The project is archived; it takes no stream items.")
    state, decided = found.stream_state, []
    for post in group:
        query, new = post.decision.decide(project, state, found.budget, found.state)
        state = new.to_dict()
        decided.append((post.decision.row(project, caller.version, query), query))
    rows = [row for row, _ in decided]
    queried = [row for row, query in decided if query]
    # The state moves with the stream state, in the statement's one conditional UPDATE.
    next_state = ITEMS_ARRIVED.after(found.state)
    params: dict[str, Any] = {
        "user": caller.user_id,
        "role": caller.role,
        "token": first.token,
        "project": project.pk,
        "version": caller.version,
        "new": _json(state),
        "next_state": next_state,
        "seen_state": _json(found.stream_state),
        "state": found.state,
        "budget": found.budget,
        "labels": _json(project.labels),
        "random_state": project.random_state,
    }
    varying, values = _item_values(rows)
    params.update(values)
    with transaction.atomic() if queried else nullcontext():
        with connection.cursor() as cursor:
            sql, types = _statement(varying)
            execute_prepared(cursor, sql, params, types=types)
            facts = cursor.fetchone()
        if facts is None or facts[0] is None:
            return None, facts
        for row, pk in zip(rows, facts[0], strict=True):
            row["id"] = pk
        if queried and facts[8]:  # (the project row stays locked until this commits)
            stream_enqueue(Project.objects.get(pk=project.pk), queried, caller.version)
    for post, result in zip(group, decided, strict=True):
        post.result = result
    return _Found(state, found.budget, next_state), facts


def _caller_holds(caller: StreamCaller, facts: tuple[Any, ...]) -> bool:
    labels, random_state, caller_ok, version = facts[4:8]
    project = caller.project
    return (
        bool(caller_ok)
        and version == caller.version
        and _loads(labels) == project.labels
        and random_state == project.random_state
    )


def _stale() -> Exception:
    from projects.stream.services import StaleCaller

    return StaleCaller("The caller's access or the model changed; look them up afresh.")


def _loads(value: Any) -> Any:
    """Django has psycopg2 hand back jsonb as text (JSONField decodes it)."""
    return json.loads(value) if isinstance(value, str) else value


def _json(value: Any) -> str:
    """JSON text: the statement compares and stores it as jsonb (as psycopg2's Json would)."""
    return json.dumps(value)


def _item_fields() -> list[Field[Any, Any]]:
    return [f for f in Item._meta.concrete_fields if not f.primary_key]


# Columns whose Python values psycopg2 takes as they are (Django's preparation of them
# only checks the type); the others go through the field's get_db_prep_save.
_AS_IS = {
    "BooleanField", "CharField", "TextField", "FloatField", "IntegerField", "SmallIntegerField",
    "PositiveIntegerField", "PositiveSmallIntegerField", "BigIntegerField", "ForeignKey",
}  # fmt: skip


@dataclass(frozen=True)
class _Column:
    name: str  # the statement parameter
    attname: str
    field: Field[Any, Any]
    as_is: bool
    now: bool  # auto_now(_add): the time of the write
    default: Any  # prepared


@lru_cache(maxsize=1)
def _columns() -> tuple[_Column, ...]:
    columns = []
    for f in _item_fields():
        as_is = f.get_internal_type() in _AS_IS
        default = f.get_default()
        columns.append(
            _Column(
                name=f"item_{f.column}",
                attname=f.attname,
                field=f,
                as_is=as_is,
                now=bool(getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)),
                default=default if as_is else f.get_db_prep_save(default, connection),
            )
        )
    return tuple(columns)


def _item_values(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The rows' columns as statement parameters: one value for a column the rows
    share (the field's default where a row doesn't set it), an array (the rows in
    order, unnested by the statement) for the others; and the latter's names."""
    now = timezone.now()
    varying, params = [], {}
    for column in _columns():
        if column.now:
            params[column.name] = column.field.get_db_prep_save(now, connection)
            continue
        if column.attname not in rows[0]:
            params[column.name] = column.default
            continue
        values = [row[column.attname] for row in rows]
        if all(value == values[0] for value in values):
            values = values[:1]
        else:
            varying.append(column.field.column)
        if not column.as_is:
            values = [column.field.get_db_prep_save(value, connection) for value in values]
        params[column.name] = values if len(values) > 1 else values[0]
    return tuple(varying), params


# Types of the statement's parameters (the items' columns take their fields' types).
_TYPES = {
    "user": "bigint", "role": "text", "token": "text", "project": "bigint",
    "version": "integer", "new": "jsonb", "next_state": "text", "seen_state": "jsonb",
    "state": "text", "budget": "double precision", "labels": "jsonb", "random_state": "bigint",
}  # fmt: skip


@lru_cache(maxsize=64)
def _statement(varying: tuple[str, ...]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The write (see _SQL) with the columns in ``varying`` unnested from arrays, and its
    parameters' types; it also doesn't wait for the WAL flush, as
    ``winnow.db.commit_without_flush`` (WINNOW_STREAM_ASYNC_COMMIT)."""
    fields = _item_fields()
    relax = "set_config('synchronous_commit', 'off', true) AS relaxed,"
    arrays = [f for f in fields if f.column in varying]
    values = [
        f"v.{connection.ops.quote_name(f.column)}"
        if f.column in varying
        else f"%(item_{f.column})s"
        for f in fields
    ]
    source = "moved"
    if arrays:
        source = "moved, unnest({}) WITH ORDINALITY AS v({}, ord) ORDER BY v.ord".format(
            ", ".join(f"%(item_{f.column})s" for f in arrays),
            ", ".join(connection.ops.quote_name(f.column) for f in arrays),
        )
    sql = _SQL.format(
        relax=relax if settings.WINNOW_STREAM_ASYNC_COMMIT else "",
        columns=", ".join(connection.ops.quote_name(f.column) for f in fields),
        values=", ".join(values),
        source=source,
    )
    types = dict(_TYPES)
    for f in fields:
        types[f"item_{f.column}"] = f"{f.db_type(connection)}{'[]' if f.column in varying else ''}"
    return sql, tuple(types.items())


def _current_state(project_id: int) -> _Found:
    """The project's stream columns now (the remembered project may be old)."""
    raw, budget, state = (
        Project.objects.filter(pk=project_id)
        .values_list("stream_state", "stream_budget", "state")
        .get()
    )
    return _Found(raw or {}, budget, state)


def _locked_state(project_id: int) -> _Found:
    """Lock the project row (in the caller's transaction) and read its stream columns."""
    raw, budget, state = (
        Project.objects.select_for_update(no_key=True)
        .filter(pk=project_id)
        .values_list("stream_state", "stream_budget", "state")
        .get()
    )
    return _Found(raw or {}, budget, state)
