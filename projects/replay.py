"""Which strategy, on my data? The project's own labels replayed through every strategy.

The pool is the project's labelled items outside the holdout, with their final answers;
the test set is its labelled holdout; the features are the project's stored ones. Each
of the task's strategies and selectors runs through the simulator of its kind (the
platform's own model, scores and selectors, with the true answers as the oracle; see
`replay_tasks`) from the project's batch size, and reports how many labels it took to
reach the current model's holdout headline metric (accuracy, micro F1, entity F1).

Cost is bounded by settings: at most `WINNOW_REPLAY_MAX_POOL` labelled items (a random
sample beyond that), `WINNOW_REPLAY_REPEATS` repeats, and the grid of `replay_grid`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from threadpoolctl import threadpool_limits

from projects import tasks
from projects.charts import CURVE_METRICS
from projects.models import ModelVersion, Project, ReplayJob
from projects.pool.snapshot import pool_snapshot
from projects.replay_tasks import (
    multilabel_data,
    multilabel_runs,
    replay_rows,
    span_runs,
    span_split,
)
from projects.training import estimators
from strategies.defaults import DEFAULT_SELECTOR
from strategies.metrics import HEADLINE_METRIC
from strategies.query import LINEAR_ONLY
from strategies.replay import fixed_splits, replay_summary
from strategies.selection import SELECTORS
from strategies.simulate import simulate_splits
from strategies.tasks import selector_fits, selector_needs_proba, strategies_for_task
from winnow.broker import task_send
from winnow.errors import Conflict

log = logging.getLogger(__name__)
State = ReplayJob.State
ACTIVE = (State.PENDING, State.RUNNING)
# The replay's oracle has no per-item annotation times, so a cost-aware selector would
# only be k-center under another name there.
NOT_REPLAYED = {"cost_aware"}


def replay_grid(project: Project) -> list[str]:
    """`query+selector` names: random once (the baseline), then, with
    `WINNOW_REPLAY_GRID=full` (the default), every strategy of the project's task with
    every selector the replay can judge; with `axes`, one axis at a time from the
    project's own setting (every strategy with its selector, its strategy with every
    selector), for servers where the whole product (about 40 pairs, each retraining once
    per batch) costs too much.

    Multi-label and span runs give the selectors no class probabilities, so selectors
    that need them are left out there.
    """
    task = project.task
    selectors = [
        s
        for s in SELECTORS
        if s not in NOT_REPLAYED
        and selector_fits(s, task)
        and (task == Project.Task.SINGLE or not selector_needs_proba(s))
    ]
    queries = [q for q in strategies_for_task(task) if q != "random"]
    # committees and EGL need our own model
    if task == Project.Task.SINGLE and not estimators.project_spec(project).linear:
        queries = [q for q in queries if q not in LINEAR_ONLY]
    pairs = [("random", "top_k")]
    if settings.WINNOW_REPLAY_GRID == "full":
        pairs += [(query, other) for query in queries for other in selectors]
    else:
        selector = project.selector if project.selector in selectors else DEFAULT_SELECTOR
        pairs += [(query, selector) for query in queries]
        pairs += [(project.strategy, other) for other in selectors]
    unique = dict.fromkeys(pairs)
    return [f"{query}+{selector}" for query, selector in unique]


def replay_target(project: Project) -> float | None:
    """The current model's holdout headline metric (accuracy, micro F1, entity F1):
    what every strategy has to reach."""
    latest = (
        ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
        .order_by("-version")
        .first()
    )
    value = ((latest.metrics or {}) if latest else {}).get(HEADLINE_METRIC[project.task])
    return None if value is None else float(value)


@transaction.atomic
def replay_request(*, project: Project, user: User | None) -> ReplayJob:
    """Record a replay job and send it to a worker; 409 while one runs or without a target.

    A job that has not finished after `WINNOW_REPLAY_STALE_SECONDS` (its worker died or
    its message was lost) is marked failed and no longer blocks a new one.
    """
    Project.objects.select_for_update().filter(pk=project.pk).first()
    _stale_fail(project)
    if ReplayJob.objects.filter(project=project, state__in=ACTIVE).exists():
        raise Conflict("A replay is already running for this project: wait for its results.")
    target = replay_target(project)
    if target is None:
        raise Conflict(
            "Replay needs a model evaluated on labelled holdout items: label some first."
        )
    job = ReplayJob.objects.create(project=project, created_by=user, target=target)
    transaction.on_commit(lambda: task_send(tasks.replay, job.pk))
    return job


def _stale_fail(project: Project) -> None:
    bound = timezone.now() - timedelta(seconds=settings.WINNOW_REPLAY_STALE_SECONDS)
    ReplayJob.objects.filter(project=project, state__in=ACTIVE, created_at__lt=bound).update(
        state=State.FAILED,
        error="Never finished (no worker, or it stopped).",
        finished_at=timezone.now(),
    )


def replay_run(*, job_id: int) -> bool:
    """Run a pending job (claimed with a compare-and-set); False if it was not pending."""
    claimed = ReplayJob.objects.filter(pk=job_id, state=State.PENDING).update(
        state=State.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return False
    job = ReplayJob.objects.select_related("project").get(pk=job_id)
    try:
        config, results = replay_compute(job.project, target=job.target)
    except Exception as exc:
        log.exception("replay %s failed", job_id)
        _finish(job_id, state=State.FAILED, error=str(exc)[:2000] or repr(exc))
        return True
    _finish(job_id, state=State.DONE, config=config, results=results)
    return True


def _finish(job_id: int, **fields: Any) -> None:
    ReplayJob.objects.filter(pk=job_id, state=State.RUNNING).update(
        finished_at=timezone.now(), **fields
    )


def replay_data(project: Project) -> dict[str, Any]:
    """The replay's pool and test set from the project's labels and stored features.

    Beyond `WINNOW_REPLAY_MAX_POOL` labelled items, a random sample of that many
    (seeded by the project's random state) is the pool.
    """
    snap = pool_snapshot(project)
    pool, test = replay_rows(project, snap)
    return {
        "pool_ids": snap.ids[pool],
        "X_pool": snap.rows(pool),
        "y_pool": snap.label[pool],
        "X_test": snap.rows(test),
        "y_test": snap.label[test],
        "n_classes": len(project.labels),
    }


def replay_compute(
    project: Project, *, target: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The replay's configuration and one result row per strategy and selector."""
    with threadpool_limits(limits=1, user_api="blas"):  # small fits: threads only contend
        if project.task == Project.Task.MULTILABEL:
            sets = multilabel_data(project)
            config = _checked_config(project, len(sets.Y_pool), len(sets.Y_test))
            document = multilabel_runs(sets, config, target)
            return config, replay_summary(document, target=target, key="micro_f1")
        if project.task == Project.Task.SPANS:
            split = span_split(project)
            config = _checked_config(project, len(split.pool_words), len(split.test_words))
            document = span_runs(split, config, target)
            return config, replay_summary(document, target=target, key="f1")
        return _single_compute(project, target)


def _single_compute(project: Project, target: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = replay_data(project)
    config = _checked_config(
        project,
        len(data["y_pool"]),
        len(data["y_test"]),
        two_labels=len(np.unique(data["y_pool"])) >= 2,
    )
    splits = fixed_splits(
        data["X_pool"],
        data["y_pool"],
        data["X_test"],
        data["y_test"],
        data["n_classes"],
        repeats=config["repeats"],
        random_state=project.random_state,
    )
    document = simulate_splits(
        splits,
        config["strategies"],
        batch_size=config["batch_size"],
        seed_size=config["seed_size"],
        budget=config["budget"],
        rules=[],
        until_accuracy=target,
        spec=estimators.project_spec(project),  # the project's own model, as its worker
    )
    return config, replay_summary(document, target=target)


def _checked_config(
    project: Project, n_pool: int, n_test: int, *, two_labels: bool = True
) -> dict[str, Any]:
    """The replay's configuration, or ValueError when the labels are too few to replay."""
    if n_test == 0:
        raise ValueError("no labelled holdout items to test on")
    if n_pool <= project.batch_size or not two_labels:
        raise ValueError(
            f"{n_pool} labelled items outside the holdout: too few to replay batches of "
            f"{project.batch_size} (it needs more than one batch and two labels)"
        )
    return replay_config(project, n_pool=n_pool, n_test=n_test)


def replay_config(project: Project, *, n_pool: int, n_test: int) -> dict[str, Any]:
    """What a replay runs: the project's batch size, its whole (capped) labelled pool."""
    return {
        "strategies": replay_grid(project),
        "batch_size": project.batch_size,
        "seed_size": project.batch_size,
        "budget": n_pool,
        "repeats": settings.WINNOW_REPLAY_REPEATS,
        "pool": n_pool,
        "test": n_test,
        "random_state": project.random_state,
    }


def replay_status(project: Project) -> dict[str, Any]:
    """The latest replay job of the project (or none yet) and the project's strategy."""
    job = ReplayJob.objects.filter(project=project).order_by("-created_at", "-pk").first()
    current = {"strategy": project.strategy, "selector": project.selector}
    metric = CURVE_METRICS[project.task][0][1]  # the headline's name: what the target is
    if job is None:
        return {
            "id": None,
            "state": None,
            "results": [],
            "current": current,
            "target": None,
            "metric": metric,
        }
    return {
        "metric": metric,
        "id": job.pk,
        "state": job.state,
        "results": job.results,
        "current": current,
        "target": job.target,
        "config": job.config,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }
