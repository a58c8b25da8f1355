"""A multi-label project's steps of the retrain (`run._train_and_score` calls them).

The model is one-vs-rest (binary relevance) over the same features as single-label
projects, `strategies.train_multilabel_model`; the holdout is judged with
`strategies.metrics.evaluate_multilabel`. The project's estimator setting is for
single-label models: each label's model here is our logistic regression.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from projects.models import Project
from projects.pool.snapshot import PoolSnapshot
from strategies import metrics
from strategies.models import MultilabelModel, train_multilabel_model


def model_train(project: Project, snap: PoolSnapshot, rows: np.ndarray, X: Any) -> MultilabelModel:
    """One binary model per label, on the items `rows` selects (rows `X`, their final sets)."""
    assert snap.sets is not None
    return train_multilabel_model(X, snap.sets[rows], random_state=project.random_state)


def holdout_evaluate(
    project: Project, model: MultilabelModel, snap: PoolSnapshot, held: np.ndarray
) -> dict[str, Any]:
    assert snap.sets is not None
    predicted = model.predict(snap.rows(held))
    return metrics.evaluate_multilabel(
        snap.sets[held], predicted, random_state=project.random_state
    )


def top_label(proba: np.ndarray) -> np.ndarray:
    """What an item's one `prediction` column holds: its most probable label."""
    return proba.argmax(axis=1) if proba.shape[1] else np.zeros(len(proba), dtype=np.int64)


def max_uncertainty(proba: np.ndarray) -> float | None:
    """The least sure label decision left in the pool: ``max 1 - max(p, 1 - p)``."""
    if not proba.size:
        return None
    return float((1.0 - np.maximum(proba, 1.0 - proba)).max())


def stop_set_predictions(model: MultilabelModel, X: Any) -> list[int]:
    """The stop set's predicted sets, flattened: stabilizing predictions then compares
    every label decision of successive models (kappa over the 0/1 cells)."""
    return model.predict(X).astype(int).ravel().tolist()
