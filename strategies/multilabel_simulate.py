"""Active learning for multi-label data with a simulated oracle (no database).

The platform's loop for a multi-label project: a coverage seed set
(``seeding.coverage_seed``), the one-vs-rest model (``models.train_multilabel_model``)
retrained after every batch and judged on a fixed test split by micro F1, a multi-label
strategy's scores over the unlabelled pool, and the batch chosen by its selector
(``selection.select_batch``, diversity measured on the pool's projection). The oracle
reveals the true sets. ``benchmarks/learning_multilabel.py`` and the product's replay
(``projects/replay.py``) both run it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from strategies._space import Matrix, fit_projection, n_rows
from strategies.defaults import DEFAULT_MULTILABEL_STRATEGY, DEFAULT_SELECTOR
from strategies.models import MultilabelModel, train_multilabel_model
from strategies.query import STRATEGIES, QueryContext
from strategies.seeding import coverage_seed
from strategies.selection import options_for, select_batch, uses_geometry


def resolve_multilabel(name: str) -> tuple[str, str]:
    """``default`` -> the multi-label defaults; ``query[+selector]`` (top_k if none)."""
    if name == "default":
        return DEFAULT_MULTILABEL_STRATEGY, DEFAULT_SELECTOR
    query, _, selector = name.partition("+")
    if query != "random" and (query not in STRATEGIES or not STRATEGIES[query].multilabel):
        raise ValueError(f"{query!r} is not a multi-label strategy")
    options_for(selector or "top_k")  # refuses an unknown selector
    return query, selector or "top_k"


def micro_f1(Y_true: np.ndarray, Y_pred: np.ndarray) -> float:
    """Micro-averaged F1 over every (item, label) decision."""
    return float(f1_score(Y_true, Y_pred, average="micro", zero_division=0.0))


def multilabel_choose(
    name: str,
    model: MultilabelModel,
    X_pool: Matrix,
    rows: np.ndarray,
    geometry: np.ndarray,
    seed: int,
    k: int,
) -> np.ndarray:
    """``k`` of the unlabelled ``rows`` (indices into the pool), as ``name`` picks."""
    query, selector = resolve_multilabel(name)
    k = min(k, len(rows))
    if query == "random":
        return np.random.default_rng(seed).choice(rows, size=k, replace=False)
    X = X_pool[rows]  # type: ignore[index]
    scores = STRATEGIES[query].fn(QueryContext(X, model=model, random_state=seed))
    options = options_for(selector)
    picked = select_batch(
        scores,
        X,
        k,
        options=options,
        random_state=seed,
        geometry=geometry[rows] if uses_geometry(options) else None,
    )
    return rows[picked.indices]


def run_multilabel_loop(
    X_pool: Matrix,
    Y_pool: np.ndarray,
    X_test: Matrix,
    Y_test: np.ndarray,
    name: str,
    *,
    seed: int,
    seed_size: int,
    batch_size: int,
    budget: int,
    until: float | None = None,
) -> dict[str, Any]:
    """Label batches of ``name``'s choice until ``budget`` labels and (with ``until``) the
    test micro F1 first reaching it, or the pool runs out.

    Returns the curve (``labels``, ``micro_f1`` after each retrain) and ``reached``, the
    labels at which the micro F1 first reached ``until`` (None if never or not asked).
    """
    n = n_rows(X_pool)
    geometry = fit_projection(X_pool, random_state=seed).transform(X_pool)
    labelled = coverage_seed(X_pool, min(seed_size, n), random_state=seed)
    curve: list[dict[str, Any]] = []
    reached = None
    while True:
        model = train_multilabel_model(
            X_pool[labelled],  # type: ignore[index]
            Y_pool[labelled],
            random_state=seed,
        )
        f1 = micro_f1(Y_test, model.predict(X_test))
        curve.append({"labels": len(labelled), "micro_f1": f1})
        if reached is None and until is not None and f1 >= until:
            reached = len(labelled)
        if (reached is not None or until is None) and len(labelled) >= budget or len(labelled) >= n:
            break
        rows = np.setdiff1d(np.arange(n), labelled)
        step = seed * 10_000 + len(labelled)
        picks = multilabel_choose(name, model, X_pool, rows, geometry, step, batch_size)
        labelled = np.concatenate([labelled, picks])
    return {"curve": curve, "reached": reached}
