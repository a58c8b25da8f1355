"""The replay's data and runs for each task kind (`projects.replay` runs the job).

The pool is the project's labelled items outside the holdout, the test set its
labelled holdout, the oracle their final answers: labels (single-label, through
`strategies.simulate`), sets (multi-label, `strategies.multilabel_simulate`, judged by
micro F1) or spans (`strategies.spans.simulate`, the CRF judged by entity F1). Every
run goes on until the curve reaches the current model's headline metric or the pool
runs out, as the single-label replay does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from projects.models import Project
from projects.pool.snapshot import PoolSnapshot, pool_snapshot
from projects.training.spans import tagged_items
from strategies._space import Matrix
from strategies.metrics import learning_curve_auc
from strategies.multilabel_simulate import run_multilabel_loop
from strategies.spans.features import sentence_features
from strategies.spans.simulate import (
    SpanSplit,
    resolve_span_strategy,
    run_span_loop,
    span_chooser,
)


def replay_rows(project: Project, snap: PoolSnapshot) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot rows of the replay's pool and test set. Beyond `WINNOW_REPLAY_MAX_POOL`
    labelled items, a random sample of that many (seeded by the project) is the pool."""
    pool = np.flatnonzero(snap.train)
    test = np.flatnonzero(snap.labeled & snap.holdout)
    cap = settings.WINNOW_REPLAY_MAX_POOL
    if len(pool) > cap:
        rng = np.random.default_rng(project.random_state)
        pool = np.sort(rng.choice(pool, size=cap, replace=False))
    return pool, test


@dataclass
class SetData:
    """A multi-label replay's pool and test set: features and 0/1 label sets."""

    X_pool: Matrix
    Y_pool: np.ndarray
    X_test: Matrix
    Y_test: np.ndarray


def multilabel_data(project: Project) -> SetData:
    snap = pool_snapshot(project)
    assert snap.sets is not None
    pool, test = replay_rows(project, snap)
    return SetData(snap.rows(pool), snap.sets[pool], snap.rows(test), snap.sets[test])


def multilabel_runs(data: SetData, config: dict[str, Any], target: float) -> dict[str, Any]:
    """Every strategy of the grid on every repeat; curves of micro F1."""
    runs = []
    for repeat in range(config["repeats"]):
        for name in config["strategies"]:
            run = run_multilabel_loop(
                data.X_pool,
                data.Y_pool,
                data.X_test,
                data.Y_test,
                name,
                seed=config["random_state"] + repeat,
                seed_size=config["seed_size"],
                batch_size=config["batch_size"],
                budget=config["budget"],
                until=target,
            )
            runs.append(_run(name, repeat, run["curve"], "micro_f1"))
    return {"runs": runs}


def span_split(project: Project) -> SpanSplit:
    """A span replay's pool and test sentences (words and BIO tags of the final spans);
    an item without a token teaches the CRF nothing and is left out, as in the retrain."""
    snap = pool_snapshot(project)
    pool, test = replay_rows(project, snap)
    pool_words, pool_tags = _with_tokens(*tagged_items(snap.ids[pool]))
    test_words, test_tags = _with_tokens(*tagged_items(snap.ids[test]))
    return SpanSplit(
        pool_words,
        pool_tags,
        test_words,
        test_tags,
        list(project.labels),
        sentence_features(pool_words),
        project.random_state,
    )


def span_runs(split: SpanSplit, config: dict[str, Any], target: float) -> dict[str, Any]:
    """Every sequence strategy of the grid on every repeat (seed set and random choices
    differ); curves of entity F1 over sentences."""
    runs = []
    for repeat in range(config["repeats"]):
        split.seed = config["random_state"] + repeat
        for name in config["strategies"]:
            run = run_span_loop(
                split,
                span_chooser(*resolve_span_strategy(name)),
                batch_size=config["batch_size"],
                seed_size=config["seed_size"],
                budget=config["budget"],
                until_f1=target,
            )
            runs.append(_run(name, repeat, run["curve"], "f1"))
    return {"runs": runs}


def _run(name: str, repeat: int, curve: list[dict[str, Any]], key: str) -> dict[str, Any]:
    auc = learning_curve_auc(curve, key)
    return {"strategy": name, "repeat": repeat, "curve": curve, "auc": auc}


def _with_tokens(
    words: list[list[str]], tags: list[list[str]]
) -> tuple[list[list[str]], list[list[str]]]:
    kept = [i for i, row in enumerate(words) if row]
    return [words[i] for i in kept], [tags[i] for i in kept]
