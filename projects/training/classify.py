"""A classification project's steps of the retrain, single- and multi-label
(`run._train_and_score` dispatches to `classify_steps`).

The project's estimator (single-label) or one-vs-rest (`multilabel.py`) over the pool's
feature rows; the pool's probabilities computed in chunks over every free worker when
it is large (`chunks.rescore_started`, a `scorers.ProbaScorer` per chunk, which also
gives what the strategy reads of the rows), then scored with the project's strategy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from projects.models import ModelVersion, Project
from projects.pool.snapshot import PoolSnapshot
from projects.training import estimators
from projects.training import multilabel as multilabel_steps
from projects.training.chunks import ProbaScorer, rescore_started
from projects.training.predicted import PredictedAnswers
from projects.training.steps import Scored
from strategies import metrics, query
from strategies._space import density_fit, density_sample
from strategies.models import multilabel_sets, train_model


def classify_steps(
    project: Project,
    version: ModelVersion,
    snap: PoolSnapshot,
    save: Callable[[Any], str],
    timings: dict[str, float],
    attempt: int,
) -> Scored:
    """Train, save (before the rescore's chunks read the model), evaluate and score."""
    n_classes = len(project.labels)
    train = snap.train
    t = time.perf_counter()
    spec = estimators.project_spec(project)
    multilabel = project.task == Project.Task.MULTILABEL
    X_train = snap.rows(train)
    if multilabel:
        model: Any = multilabel_steps.model_train(project, snap, train, X_train)
    else:
        model = train_model(
            X_train,
            snap.label[train],
            n_classes,
            random_state=project.random_state,
            spec=spec,
            previous=estimators.previous_choice(project, version, spec),
        )
    timings["train"] = time.perf_counter() - t
    t = time.perf_counter()
    model_file = save(model)
    timings["save_model"] = time.perf_counter() - t

    t = time.perf_counter()
    held = snap.labeled & snap.holdout
    evaluation = None
    if held.any() and multilabel:
        evaluation = multilabel_steps.holdout_evaluate(project, model, snap, held)
    elif held.any():
        evaluation = metrics.evaluate(
            snap.label[held],
            model.predict(snap.rows(held)),
            n_classes,
            random_state=project.random_state,
        )
    timings["evaluate"] = time.perf_counter() - t

    t = time.perf_counter()
    # Queued items too: those the refresh sends back to the pool must compete on this
    # version's scores, not on the previous model's (or none).
    in_pool = snap.unlabeled
    ids = snap.ids[in_pool]
    strategy = query.STRATEGIES[project.strategy]
    ctx = query.QueryContext(
        X_pool=None,
        model=model,
        X_labeled=X_train,
        y_labeled=snap.label[train],
        n_classes=n_classes,
        random_state=project.random_state + version.version,
    )
    # A row-local strategy scores each chunk where it is scored, beside the
    # probabilities: the workers share that work too, and a committee (which reads the
    # rows) never needs the pool's rows gathered. Of the others, density weighting reads
    # the pool's density, fitted here on a sample of rows and measured in the chunks.
    in_chunks = strategy.row_local and bool(in_pool.any())
    density = None
    if strategy.reads_density and in_pool.any():
        sample = np.flatnonzero(in_pool)[density_sample(len(ids), ctx.random_state)]
        density = density_fit(snap.rows(sample), random_state=ctx.random_state)
    scorer = ProbaScorer(
        model,
        norms=strategy.reads_norms and not in_chunks,
        strategy=project.strategy if in_chunks else None,
        committee=ctx.members() if in_chunks and strategy.needs_committee else None,
        density=density,
    )
    with rescore_started(version=version, attempt=attempt, scorer=scorer, ids=ids) as rescore:
        # A strategy that reads the rows otherwise (none today) has them in one matrix.
        gathered = strategy.reads_features and not in_chunks
        ctx.X_pool = snap.rows(in_pool) if gathered else None
        proba, ctx.row_norms, chunk_scores, ctx.density = rescore.proba(ids, n_classes, ctx.X_pool)
    rescore.timings_note(timings)
    ctx.proba = proba
    scores = np.zeros(0)
    if chunk_scores is not None:
        scores = chunk_scores
    elif in_pool.any():
        scores = query.score(project.strategy, ctx)
    timings["score"] = time.perf_counter() - t

    def stop_set_predictions(ids: np.ndarray) -> list[int]:
        rows = np.searchsorted(snap.ids, ids)
        if not len(ids):
            return []
        if multilabel:
            return multilabel_steps.stop_set_predictions(model, snap.rows(rows))
        return [int(p) for p in model.predict(snap.rows(rows)).astype(int).tolist()]

    return Scored(
        model=model,
        model_file=model_file,
        evaluation=evaluation,
        scores=scores,
        predictions=multilabel_steps.top_label(proba) if multilabel else proba.argmax(axis=1),
        uncertainty=multilabel_steps.max_uncertainty(proba)
        if multilabel
        else (float(1.0 - proba.max(axis=1).min()) if len(proba) else None),
        stop_set_predictions=stop_set_predictions,
        estimator="one_vs_rest_logistic_regression" if multilabel else spec.name,
        hyperparameters=estimators.chosen_values(model),
        answers=PredictedAnswers(len(proba), sets=multilabel_sets(proba)) if multilabel else None,
    )
