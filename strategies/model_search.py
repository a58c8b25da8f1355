"""How a model's hyperparameters are chosen: a grid point by cross-validation
(``cv_search``), and whether an earlier fit's choice still stands (``reusable_choice``).

``models`` fits with these; a search costs folds × grid points fits, so the project
passes the last version's choice and a fit searches again only once the labels have
grown or shrunk by ``RESEARCH_GROWTH``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import product
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import StratifiedKFold

from strategies._space import Matrix


def default_C(X: Matrix) -> float:
    """Inverse regularisation: weaker for l2-normalised sparse text (features are small)."""
    return 10.0 if sp.issparse(X) else 1.0


# Below this many labels a cross-validated choice is noise: the default is kept.
MIN_SEARCH_LABELS = 20
SEARCH_FOLDS = 3
# A search costs folds × grid points fits; the choice moves little while the labels grow
# a little, so a fit given the last search's choice (``previous``) keeps it until the
# labels have grown (or shrunk) by this factor since that search, then searches again.
RESEARCH_GROWTH = 1.25


def reusable_choice(
    previous: Mapping[str, Any] | None, grid: Mapping[str, Sequence[Any]], n_labels: int
) -> dict[str, Any] | None:
    """The grid point an earlier fit's search chose (its ``chosen_``), if it still stands.

    It stands while ``n_labels`` is within ``RESEARCH_GROWTH`` of the labels that search
    saw and the point is still in ``grid`` (the grid can change with the features).
    """
    if not previous or not previous.get("searched") or not previous.get("searched_at"):
        return None
    at = float(previous["searched_at"])
    if not at / RESEARCH_GROWTH < n_labels < at * RESEARCH_GROWTH:
        return None
    try:
        point = {name: previous[name] for name in grid}
    except KeyError:
        return None
    if any(point[name] not in list(grid[name]) for name in grid):
        return None
    return point


def C_grid(X: Matrix) -> tuple[float, ...]:
    """Candidate inverse regularisations around ``default_C`` (a decade either side)."""
    c = default_C(X)
    return (c / 10.0, c, c * 10.0)


def cv_search(
    make: Callable[[dict[str, Any]], Any],
    grid: Mapping[str, Sequence[Any]],
    X: Matrix,
    y: np.ndarray,
    *,
    random_state: int | None = None,
    min_labels: int = MIN_SEARCH_LABELS,
) -> dict[str, Any] | None:
    """The grid point with the lowest held-out log-loss, by stratified k-fold CV.

    ``make(params)`` builds an unfitted classifier with ``predict_proba``. None when the
    labels are too few (fewer than ``min_labels``, or a class with fewer than 2) for
    the folds to say anything; the caller then keeps its default. Log-loss rather than
    accuracy: on a few dozen labels accuracy ties between most grid points.
    """
    counts = np.bincount(y)
    counts = counts[counts > 0]
    if len(y) < min_labels or len(counts) < 2 or counts.min() < 2:
        return None
    folds = StratifiedKFold(
        n_splits=int(min(SEARCH_FOLDS, counts.min())), shuffle=True, random_state=random_state
    )
    names = sorted(grid)
    points = [
        dict(zip(names, values, strict=True)) for values in product(*(grid[n] for n in names))
    ]
    if len(points) == 1:
        return points[0]
    losses = []
    labels = np.unique(y)
    for params in points:
        loss = 0.0
        for train, test in folds.split(np.zeros(len(y)), y):
            model = make(params).fit(X[train], y[train])  # type: ignore[index]
            proba = np.asarray(model.predict_proba(X[test]))  # type: ignore[index]
            cols = _columns(model, labels)
            p = np.clip(
                proba[np.arange(len(test)), cols[np.searchsorted(labels, y[test])]], 1e-6, 1
            )
            loss -= float(np.log(p).sum())
        losses.append(loss)
    return points[int(np.argmin(losses))]


def _columns(model: Any, labels: np.ndarray) -> np.ndarray:
    """Column of ``predict_proba`` for every label: its place among the fitted model's
    ``classes_`` (ours have every class, ``arange(n_classes)``, so a label is its own)."""
    return np.searchsorted(np.asarray(getattr(model, "classes_", labels)), labels)
