"""A project's own labels replayed through the simulator: splits whose pool and test set
are given (the labelled items and the holdout), and the per-strategy summary of how many
labels each needed to reach a target (the product's replay job, `projects.replay`), for
every task kind: the summary reads the curve's headline metric."""

from __future__ import annotations

from typing import Any

import numpy as np

from strategies._space import Matrix
from strategies.datasets import Split
from strategies.metrics import labels_to_reach


def fixed_splits(
    X_pool: Matrix,
    y_pool: np.ndarray,
    X_test: Matrix,
    y_test: np.ndarray,
    n_classes: int,
    *,
    repeats: int,
    random_state: int = 0,
) -> list[Split]:
    """One pool and test set, repeated with seeds ``random_state + repeat``.

    For data whose split is given (a project's labelled pool and its holdout): the
    repeats differ in the seed set and in the strategies' and selectors' random choices.
    """
    return [
        Split(X_pool, np.asarray(y_pool), X_test, np.asarray(y_test), n_classes, random_state + r)
        for r in range(repeats)
    ]


def replay_summary(
    document: dict[str, Any], *, target: float, level: float = 0.8, key: str = "accuracy"
) -> list[dict[str, Any]]:
    """Per strategy (``query+selector``): labels for the curve's ``key`` (the task's
    headline metric) to reach ``target`` (median over repeats) with the repeats'
    ``level`` percentile interval, and the mean area under the learning curve.

    A repeat that never reached the target counts as infinitely many labels: the
    figure (or the interval's end) is then None. Sorted fewest labels first, then AULC.
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in document["runs"]:
        by_name.setdefault(run["strategy"], []).append(run)
    tail = 100 * (1 - level) / 2
    rows = []
    for name, runs in by_name.items():
        reached = [labels_to_reach(r["curve"], target, key) for r in runs]
        counts = np.array([np.inf if n is None else n for n in reached], dtype=np.float64)
        median, low, high = np.percentile(counts, [50, tail, 100 - tail], method="inverted_cdf")
        query, _, selector = name.partition("+")
        rows.append(
            {
                "strategy": query,
                "selector": selector or "top_k",
                "labels_to_target": _finite(median),
                "low": _finite(low),
                "high": _finite(high),
                "aulc": float(np.mean([r["auc"] for r in runs])),
                "reached": sum(n is not None for n in reached),
                "repeats": len(runs),
            }
        )
    return sorted(
        rows, key=lambda r: (r["labels_to_target"] is None, r["labels_to_target"] or 0, -r["aulc"])
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
