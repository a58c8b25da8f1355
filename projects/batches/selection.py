"""Which items go into a batch, and why (PRODUCT.md §2.2, §4).

Two speeds: the request path (`quick`) only reads stored scores or samples at
random, so an annotator finishing a batch never waits; the worker runs the full
selector (coverage seeding, diversity, balance, cost) and refreshes the batch's
untouched items with its picks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Q

from projects.models import RANKING_ORDER, Annotation, Batch, Item, ModelVersion, Project
from projects.pool import snapshot as pool
from projects.pool.geometry import geometry_rows
from projects.training.services import latest_model, load_model, retraining
from strategies.seeding import coverage_seed
from strategies.selection import SELECTORS, CostModel, select_batch, uses_geometry


@dataclass
class Picks:
    item_ids: list[int]
    kind: str
    strategy: str
    model_version: ModelVersion | None = None
    holdout: set[int] = field(default_factory=set)
    scores: dict[int, float] = field(default_factory=dict)
    components: dict[int, dict[str, float]] = field(default_factory=dict)
    # Next-best items, in order, for picks that are taken or locked by the time they land.
    spares: list[int] = field(default_factory=list)


SPARES = 10
# Pool rows a coverage batch reads at most (k-means then fits on a sample of them).
COVERAGE_ROWS = 200_000


def needs_coverage(project: Project, latest: ModelVersion | None) -> bool:
    """Cold start: choose for coverage until every label could have a few examples."""
    if latest is None:
        return True
    # Labelled items are state "labeled" (the ranking index finds them without a pool scan);
    # counted only up to the seed size: every batch opening asks.
    seed = project.seed_per_class * len(project.labels)
    labeled = Item.objects.filter(project=project, state=Item.State.LABELED, is_holdout=False)
    return labeled[:seed].count() < seed


def candidate_ids(project: Project) -> np.ndarray:
    ids = Item.objects.filter(project=project, state=Item.State.POOL, is_holdout=False)
    # A plain cursor: a values_list builds a Python row per item, and pools are large.
    sql, params = ids.values_list("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return np.array(cursor.fetchall(), dtype=np.int64).reshape(-1)


PROBE_ROUNDS = 4  # rounds beyond one per draw, for draws that collide
# A probe per draw: the first pool item at or after its start, else (wrapping around) the
# first one. `project_id + 0`: probes walk the primary key from the start; on the
# (project_id, state, ...) ranking index, stale statistics had Postgres read and sort
# every pool entry after the start.
_POOL = "project_id + 0 = %s AND state = %s AND NOT is_holdout"
_PROBE = (
    "SELECT COALESCE((SELECT id FROM {item} WHERE {pool} AND id >= %s ORDER BY id LIMIT 1),"
    " (SELECT id FROM {item} WHERE {pool} ORDER BY id LIMIT 1))"
)


def random_pool_items(
    project: Project, n: int, rng: np.random.Generator, *, exclude: set[int]
) -> list[int]:
    """`n` pool items drawn uniformly over the id range: index probes, no pool scan.

    Item ids of an import are consecutive (COPY), so a uniform id lands on a uniform item.
    A round of draws is one statement (this runs in the request that opens a batch);
    draws that land on an item another draw of the round took are drawn again.
    """
    chosen: list[int] = []
    rounds = 0
    while len(chosen) < n and rounds < n + PROBE_ROUNDS:
        rounds += 1
        draws = rng.random(n - len(chosen)).tolist()
        found = _first_pool_items_at(project, draws, exclude | set(chosen))
        if not found:  # every probe wraps around, so the pool has nothing left
            break
        chosen.extend(dict.fromkeys(found))
    return chosen[:n]


def _first_pool_items_at(project: Project, draws: list[float], taken: set[int]) -> list[int]:
    """Each draw u in [0, 1) takes the first pool item at or after lo + u (hi - lo + 1) of
    the project's id range, wrapping around to the first one.

    One implementation on every database: the id range's bounds, then one UNION ALL of
    a probe per draw. It runs once per batch opening (after the response, on the request
    path), so two index lookups more are not worth a PostgreSQL-only copy of the rule.
    """
    ids = Item.objects.filter(project=project).values_list("id", flat=True)
    lo, hi = ids.order_by("id").first(), ids.order_by("-id").first()
    if lo is None or hi is None:
        return []
    pool_sql = _POOL + (f" AND id NOT IN ({', '.join(['%s'] * len(taken))})" if taken else "")
    probe = _PROBE.format(item=Item._meta.db_table, pool=pool_sql)
    pool = [project.pk, Item.State.POOL, *sorted(taken)]
    params: list[Any] = []
    for u in draws:
        params.extend([*pool, lo + math.floor(u * (hi - lo + 1)), *pool])
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join([probe] * len(draws)), params)
        return [row[0] for row in cursor.fetchall() if row[0] is not None]


def batch_picks(
    *,
    project: Project,
    k: int,
    quick: bool,
    holdout: bool = True,
    prepared: Prepared | None = None,
) -> Picks:
    latest = latest_model(project)
    n_holdout = holdout_quota(project, k) if holdout else 0
    if prepared is not None and prepared.picks.item_ids:
        picks = prepared.take(k - n_holdout)
    elif needs_coverage(project, latest):
        picks = coverage_picks(project, k - n_holdout, quick=quick)
    else:
        assert latest is not None
        picks = model_picks(project, latest, k - n_holdout, quick=quick)
    _add_holdout(project, picks, n_holdout)
    return picks


def coverage_picks(project: Project, k: int, *, quick: bool) -> Picks:
    ids = candidate_ids(project)
    rng = np.random.default_rng(project.random_state + len(ids))
    if quick or len(ids) <= k:
        chosen = rng.permutation(ids)[: k + SPARES]
        return Picks(
            item_ids=chosen[:k].tolist(),
            kind=Batch.Kind.STALE,
            strategy="random",
            spares=chosen[k:].tolist(),
        )

    # k-means fits on a sample of the rows anyway (`strategies.seeding`): a huge pool's
    # rows are not all read for it, a random COVERAGE_ROWS of them are.
    if len(ids) > COVERAGE_ROWS:
        ids = np.sort(rng.choice(ids, COVERAGE_ROWS, replace=False))
    table = pool.features_ready(project, ids)
    rows = coverage_seed(table.rows(ids), k, random_state=project.random_state)
    return Picks(item_ids=ids[rows].tolist(), kind=Batch.Kind.COVERAGE, strategy="coverage")


def model_picks(
    project: Project, latest: ModelVersion, k: int, *, quick: bool, also: list[int] | None = None
) -> Picks:
    """The top of `latest`'s ranking of the pool (and of the items `also` names)."""

    preset = SELECTORS[project.selector]
    factor = 1 if quick else max(preset.options.shortlist_factor, 1)
    candidates = Q(state=Item.State.POOL) | Q(pk__in=also) if also else Q(state=Item.State.POOL)
    ranked = list(
        Item.objects.filter(
            candidates,
            project=project,
            is_holdout=False,
            # A newer version being written right now ranks with it; rows an older
            # version scored (skipped as locked, or arrived during its retrain) do not.
            # Only the top of each ranking is stored (`training.ranked_rows`).
            scored_version__gte=latest.version,
            # A newer ranking being written clears the scores of the rows it ranks lower
            # (`training.run`), leaving their version: they are out of every top now.
            score__isnull=False,
        )
        .order_by(*RANKING_ORDER)
        .values_list("id", "score")[: k * factor + SPARES]
    )
    kind = Batch.Kind.STALE if retraining(project, besides=latest) else Batch.Kind.MODEL
    if not ranked:
        return coverage_picks(project, k, quick=True)
    ids = np.array([r[0] for r in ranked], dtype=np.int64)
    scores = np.array([r[1] for r in ranked], dtype=np.float64)
    if quick or len(ids[: k * factor]) <= k and preset.options.diversity == "none":
        return Picks(
            item_ids=ids[:k].tolist(),
            kind=kind,
            strategy=project.strategy,
            model_version=latest,
            scores=dict(zip(ids.tolist(), scores.tolist(), strict=True)),
            spares=ids[k:].tolist(),
        )
    shortlist = ids[: k * factor]
    X = pool.features_ready(project, shortlist).rows(shortlist)
    selection = select_batch(
        scores[: len(shortlist)],
        X,
        k,
        options=preset.options,
        proba=_shortlist_proba(project, latest, X),
        cost=_predicted_seconds(project, shortlist) if preset.options.cost_aware else None,
        random_state=project.random_state + latest.version,
        geometry=geometry_rows(project, X) if uses_geometry(preset.options) else None,
    )
    chosen = shortlist[selection.indices]
    records = selection.as_records()
    spare_rows = np.setdiff1d(np.arange(len(ids)), selection.indices)[:SPARES]
    return Picks(
        item_ids=chosen.tolist(),
        kind=kind,
        strategy=project.strategy,
        model_version=latest,
        scores={
            **{int(ids[r]): float(scores[r]) for r in spare_rows},
            **{int(i): float(scores[r["index"]]) for i, r in zip(chosen, records, strict=True)},
        },
        spares=ids[spare_rows].tolist(),
        components={
            int(i): {key: v for key, v in r.items() if key not in ("index", "rank")}
            for i, r in zip(chosen, records, strict=True)
        },
    )


def _shortlist_proba(project: Project, latest: ModelVersion, X: Any) -> np.ndarray | None:
    """The class probabilities of the shortlist's rows; a span project's CRF gives none
    (it tags sentences), so its selectors work on the scores and the feature rows."""
    if project.task == Project.Task.SPANS:
        return None
    return np.asarray(load_model(project.pk, latest.version).predict_proba(X))


def _predicted_seconds(project: Project, ids: np.ndarray) -> np.ndarray:
    """Predicted annotation time per candidate, from this project's recorded times."""

    done = list(
        Annotation.objects.filter(project=project, seconds__isnull=False).values_list(
            "item__text", "seconds"
        )[:5000]
    )
    texts = dict(Item.objects.filter(pk__in=ids.tolist()).values_list("id", "text"))
    lengths = np.array([len(texts.get(int(i), "")) for i in ids], dtype=np.float64)
    model = CostModel()
    if len(done) >= 5:
        model.fit(
            np.array([len(t or "") for t, _ in done], dtype=np.float64),
            np.array([s for _, s in done], dtype=np.float64),
        )
    return np.asarray(model.predict(lengths), dtype=np.float64)


def _add_holdout(project: Project, picks: Picks, n: int) -> None:
    """Mix randomly sampled evaluation items evenly into the batch (never by the strategy)."""
    if n <= 0:
        return
    rng = np.random.default_rng([project.random_state, len(picks.item_ids), *picks.item_ids[:3]])
    chosen = random_pool_items(project, n, rng, exclude=set(picks.item_ids))
    picks.holdout = set(chosen)
    merged = list(picks.item_ids)
    step = max(1, (len(merged) + len(chosen)) // max(len(chosen), 1))
    for j, item_id in enumerate(chosen):
        merged.insert(min(len(merged), j * step + step - 1), item_id)
    picks.item_ids = merged


@dataclass
class Prepared:
    """Full-selector picks made before any lock is taken, handed out in order under it."""

    picks: Picks

    def take(self, k: int) -> Picks:
        source = self.picks
        ids, source.item_ids = source.item_ids[:k], source.item_ids[k:]
        return Picks(
            item_ids=ids,
            kind=source.kind,
            strategy=source.strategy,
            model_version=source.model_version,
            scores=source.scores,
            components=source.components,
            spares=source.item_ids[:SPARES] + source.spares,
        )


def holdout_quota(project: Project, k: int) -> int:
    wanted = math.ceil(k * project.holdout_fraction)
    if wanted <= 0:
        return 0
    # Counted only up to the target: every batch opening asks.
    holdout = Item.objects.filter(project=project, is_holdout=True)
    have = holdout[: project.holdout_target].count()
    return max(0, min(wanted, project.holdout_target - have, k - 1))
