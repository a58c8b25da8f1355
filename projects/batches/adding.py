"""Picked items into a batch: queued with their ranks and required counts, and logged.

Two executors of one rule (STYLE.md, "One rule, one home", the shared-rule choice):
PostgreSQL runs one statement with data-modifying CTEs that takes the free candidates
with `SKIP LOCKED`, queues, logs and counts them; elsewhere the ORM does the same in a
few statements. A batch opening is on the request path of an annotator (the slowest
one under load), and SQLite has neither data-modifying CTEs nor row locks, so neither
executor can serve the other's database without a cost. What a row holds is decided
once, in Python, for both: each candidate's log fields (`_candidate_rows`), and how
many annotations each position needs (`required_annotations`, with its seeded
agreement draw). The statement only takes the first free candidates and writes the
values it is handed. `tests/projects/test_batch_executors.py` drives random scenarios
through both executors on one PostgreSQL database and asserts identical rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import F
from django.utils import timezone

from projects.models import Batch, Item, Membership, Project, SelectionLog
from winnow.db import execute_prepared


def required_annotations(project: Project, n: int, *, members: int, seed: int) -> list[int]:
    """How many annotations each of a batch's next `n` positions needs.

    `overlap` annotators per item, no more than the project has; a seeded
    `agreement_fraction` of positions get `agreement_overlap` (at least `overlap`).
    The draw of a prefix of positions is the prefix of the draw, so it does not
    matter how many candidates turn out free.
    """
    base = min(project.overlap, max(members, 1))
    extra = min(max(project.agreement_overlap, base), max(members, 1))
    need = np.full(n, base, dtype=int)
    if project.agreement_fraction > 0 and extra > base:
        rng = np.random.default_rng(project.random_state + seed)
        need[rng.random(n) < project.agreement_fraction] = extra
    return need.tolist()


@dataclass(frozen=True)
class _Candidate:
    id: int
    holdout: bool
    reason: str
    strategy: str
    score: float | None
    components: dict[str, float]


def _candidates(picks: Any) -> list[_Candidate]:
    """The picks, then the spares not among them, with what each one's log row says."""
    wanted = list(picks.item_ids)
    ids = wanted + [i for i in getattr(picks, "spares", []) if i not in set(wanted)]
    return [
        _Candidate(
            id=i,
            holdout=i in picks.holdout,
            # Holdout items are drawn at random, never by the strategy.
            reason="holdout" if i in picks.holdout else picks.kind,
            strategy="random" if i in picks.holdout else picks.strategy,
            score=picks.scores.get(i),
            components=picks.components.get(i, {}),
        )
        for i in ids
    ]


@dataclass(frozen=True)
class AddPlan:
    """What either executor writes: the candidates in order, and each position's count."""

    candidates: list[_Candidate]
    required: list[int]  # one per picked position: at most this many are taken
    start_rank: int
    model_version: int | None


def add_plan(*, project: Project, batch: Batch, picks: Any, start_rank: int) -> AddPlan:
    members = Membership.objects.filter(project=project).count()
    seed = batch.number * 7919 + start_rank
    return AddPlan(
        candidates=_candidates(picks),
        required=required_annotations(project, len(picks.item_ids), members=members, seed=seed),
        start_rank=start_rank,
        model_version=picks.model_version.version if picks.model_version else None,
    )


def items_add(*, project: Project, batch: Batch, picks: Any, start_rank: int) -> int:
    """Queue the first `len(picks.item_ids)` free candidates in `batch`; how many were."""
    if not picks.item_ids:
        return 0
    plan = add_plan(project=project, batch=batch, picks=picks, start_rank=start_rank)
    if connection.vendor == "postgresql":
        return add_in_one_statement(batch=batch, plan=plan)
    return add_through_orm(batch=batch, plan=plan)


def add_through_orm(*, batch: Batch, plan: AddPlan) -> int:
    free = set(
        Item.objects.select_for_update(skip_locked=True)
        .filter(pk__in=[c.id for c in plan.candidates], state=Item.State.POOL)
        .values_list("pk", flat=True)
    )
    taken = [c for c in plan.candidates if c.id in free][: len(plan.required)]
    if not taken:
        return 0
    start = plan.start_rank
    _items_queue(
        batch,
        [(c.id, start + pos, plan.required[pos], c.holdout) for pos, c in enumerate(taken)],
    )
    SelectionLog.objects.bulk_create(
        SelectionLog(
            batch=batch,
            item_id=c.id,
            rank=start + pos,
            reason=c.reason,
            model_version=plan.model_version,
            strategy=c.strategy,
            score=c.score,
            components=c.components,
        )
        for pos, c in enumerate(taken)
    )
    Batch.objects.filter(pk=batch.pk).update(
        size=F("size") + len(taken), remaining=F("remaining") + len(taken)
    )
    return len(taken)


_QUEUE_ROW = "SELECT %s AS id, %s AS batch_rank, %s AS required, %s AS is_holdout"


_QUEUE_ITEMS = (
    "UPDATE {item} SET batch_id = %s, state = %s, assigned = 0, batch_rank = v.batch_rank,"
    " required = v.required, is_holdout = v.is_holdout FROM ({rows}) AS v WHERE {item}.id = v.id"
)


def _items_queue(batch: Batch, rows: list[tuple[int, int, int, bool]]) -> None:
    """Put items in the batch with their (id, rank, required, holdout), in one statement."""
    sql = _QUEUE_ITEMS.format(
        item=Item._meta.db_table, rows=" UNION ALL ".join([_QUEUE_ROW] * len(rows))
    )
    params: list[Any] = [batch.pk, Item.State.QUEUED]
    for row in rows:
        params.extend(row)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# The first `k` candidates (the picks, then the spares) still in the pool and not locked,
# queued in the batch with the ranks and required counts of their positions, logged with
# their candidate's fields, and counted into the batch.
_BATCH_ADD = """
WITH candidate AS (
    SELECT c.id, c.ord FROM unnest(%(candidates)s) WITH ORDINALITY AS c(id, ord)
), free AS (
    SELECT i.id FROM projects_item i
    WHERE i.id = ANY(%(candidates)s) AND i.state = 'pool'
    FOR UPDATE OF i SKIP LOCKED
), taken AS (
    SELECT c.id, c.ord, (row_number() OVER (ORDER BY c.ord))::int - 1 AS pos
    FROM candidate c JOIN free f ON f.id = c.id
    ORDER BY c.ord LIMIT %(k)s
), queued AS (
    UPDATE projects_item i
    SET batch_id = %(batch)s, state = 'queued', assigned = 0,
        batch_rank = %(start)s + t.pos,
        required = (%(required)s)[t.pos + 1],
        is_holdout = (%(holdout)s)[t.ord]
    FROM taken t
    WHERE i.id = t.id
    RETURNING i.id, i.batch_rank, t.ord
), logged AS (
    INSERT INTO projects_selectionlog
        (batch_id, item_id, rank, reason, model_version, strategy, score, components,
         withdrawn, created_at)
    SELECT %(batch)s, q.id, q.batch_rank, (%(reasons)s)[q.ord], %(version)s,
           (%(strategies)s)[q.ord], (%(scores)s)[q.ord], (%(components)s)[q.ord], false, %(now)s
    FROM queued q
    RETURNING 1
), sized AS (
    UPDATE projects_batch b
    SET size = b.size + (SELECT count(*) FROM queued),
        remaining = b.remaining + (SELECT count(*) FROM queued)
    WHERE b.id = %(batch)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM queued), (SELECT count(*) FROM logged), (SELECT count(*) FROM sized)
"""


_BATCH_ADD_TYPES = (
    ("candidates", "bigint[]"), ("k", "integer"), ("batch", "bigint"), ("start", "integer"),
    ("required", "integer[]"), ("holdout", "boolean[]"), ("reasons", "text[]"),
    ("version", "integer"), ("strategies", "text[]"), ("scores", "double precision[]"),
    ("components", "jsonb[]"), ("now", "timestamp with time zone"),
)  # fmt: skip


def add_in_one_statement(*, batch: Batch, plan: AddPlan) -> int:
    candidates = plan.candidates
    params: dict[str, Any] = {
        "candidates": [c.id for c in candidates],
        "k": len(plan.required),
        "batch": batch.pk,
        "start": plan.start_rank,
        "required": plan.required,
        "holdout": [c.holdout for c in candidates],
        "reasons": [c.reason for c in candidates],
        "version": plan.model_version,
        "strategies": [c.strategy for c in candidates],
        "scores": [c.score for c in candidates],
        "components": [json.dumps(c.components) for c in candidates],
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        execute_prepared(cursor, _BATCH_ADD, params, types=_BATCH_ADD_TYPES)
        queued, logged, sized = cursor.fetchone()
    assert queued == logged and (sized == 1 or queued == 0)
    return int(queued)
