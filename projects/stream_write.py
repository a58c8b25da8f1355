"""A stream decision's write on Postgres: one statement, no lock held across round trips.

The stream state (threshold and budget counters, ``strategies.stream``) must move
exactly once per arrival, in order, however many posts run at once. Instead of
locking the project row, reading, deciding and writing (four round trips with the
lock held, serialising every post behind the slowest), the decision is made on the
state this process last saw, and one statement compares and swaps it: it updates
the project row only if the stream state, budget and state are still those the
decision saw, and inserts the item in the same statement, so both or neither land.
A swap that finds another writer went first returns the current values and the
decision is made again; after ``OPTIMISTIC_TRIES`` the row is locked first, so a
post cannot starve. Posts of one project in one process take turns (a thread lock)
so they don't race each other's swaps.

The same statement re-checks what ``projects.stream_access`` remembers about the
caller (token, membership and role, latest model version, the project's labels);
if any changed nothing is written and ``StaleCaller`` is raised.
"""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction

from projects.models import Item, Project
from projects.stream_access import StreamCaller

if TYPE_CHECKING:
    from projects.stream import Decision

OPTIMISTIC_TRIES = 3

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
         WHERE v.project_id = p.id AND v.status = 'done') AS version
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
    INSERT INTO projects_item ({columns}) SELECT {values} FROM moved RETURNING id
)
SELECT (SELECT id FROM item), f.stream_state, f.stream_budget, f.state, f.labels,
       f.random_state, f.caller_ok, f.version
FROM facts f
"""


@dataclass
class _Found:
    """The project's stream columns as the last write (or failed swap) found them."""

    stream_state: dict[str, Any]
    budget: float | None
    state: str


_found: dict[int, _Found] = {}
_locks: dict[int, threading.Lock] = {}
_locks_lock = threading.Lock()


def _project_lock(project_id: int) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(project_id, threading.Lock())


def decide_and_write(
    caller: StreamCaller, token: str | None, decision: Decision
) -> tuple[Item, bool]:
    """Decide on the current stream state and store the item with the new state, exactly once."""
    project = caller.project
    with _project_lock(project.pk):
        found = _found.get(project.pk) or _current_state(project.pk)
        tries = 0
        while True:
            tries += 1
            written, facts = _attempt(caller, token, decision, found, lock=tries > OPTIMISTIC_TRIES)
            if facts is None or not _caller_holds(caller, facts):
                _found.pop(project.pk, None)
                raise _stale()
            if written is not None:
                _found[project.pk] = written[2]
                return written[0], written[1]
            found = _Found(_loads(facts[1]) or {}, facts[2], facts[3])


def _attempt(
    caller: StreamCaller, token: str | None, decision: Decision, found: _Found, *, lock: bool
) -> tuple[tuple[Item, bool, _Found] | None, tuple[Any, ...] | None]:
    if not lock:
        return _write(caller, token, decision, found)
    with transaction.atomic():
        return _write(caller, token, decision, _locked_state(caller.project.pk))


def _write(
    caller: StreamCaller, token: str | None, decision: Decision, found: _Found
) -> tuple[tuple[Item, bool, _Found] | None, tuple[Any, ...] | None]:
    """Decide on ``found`` and swap it for the new state; the written result and the facts.

    A skip is one statement in autocommit; a query also puts the item in a batch, in
    the same transaction (the project row stays locked by the update until it commits).
    """
    from projects.stream import StreamClosed, stream_enqueue

    project = caller.project
    if found.state == Project.State.ARCHIVED:
        raise StreamClosed("The project is archived; it takes no stream items.")
    query, new = decision.decide(project, found.stream_state, found.budget, found.state)
    item = decision.item(project, caller.version, query)
    next_state = Project.State.COLLECTING if found.state == Project.State.SETUP else found.state
    params = {
        "user": caller.user_id,
        "role": caller.role,
        "token": token,
        "project": project.pk,
        "version": caller.version,
        "new": _json(new.to_dict()),
        "next_state": next_state,
        "seen_state": _json(found.stream_state),
        "state": found.state,
        "budget": found.budget,
        "labels": _json(project.labels),
        "random_state": project.random_state,
        **_item_params(item),
    }
    with transaction.atomic() if query else nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(_statement(), params)
            facts = cursor.fetchone()
        if facts is None or facts[0] is None:
            return None, facts
        item.pk = facts[0]
        if query:
            stream_enqueue(Project.objects.get(pk=project.pk), item, caller.version)
    return (item, query, _Found(new.to_dict(), found.budget, next_state)), facts


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
    from projects.stream import StaleCaller

    return StaleCaller("The caller's access or the model changed; look them up afresh.")


def _loads(value: Any) -> Any:
    """Django has psycopg2 hand back jsonb as text (JSONField decodes it)."""
    return json.loads(value) if isinstance(value, str) else value


def _json(value: Any) -> Any:
    return connection.ops.adapt_json_value(value, None)


def _item_fields() -> list[Any]:
    return [f for f in Item._meta.concrete_fields if not f.primary_key]


def _item_params(item: Item) -> dict[str, Any]:
    return {
        f"item_{f.column}": f.get_db_prep_save(f.pre_save(item, True), connection)
        for f in _item_fields()
    }


@lru_cache(maxsize=1)
def _statement() -> str:
    """The write (see _SQL); it also doesn't wait for the WAL flush, as
    ``projects.db.commit_without_flush`` (WINNOW_STREAM_ASYNC_COMMIT)."""
    fields = _item_fields()
    relax = "set_config('synchronous_commit', 'off', true) AS relaxed,"
    return _SQL.format(
        relax=relax if settings.WINNOW_STREAM_ASYNC_COMMIT else "",
        columns=", ".join(connection.ops.quote_name(f.column) for f in fields),
        values=", ".join(f"%(item_{f.column})s" for f in fields),
    )


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
