"""Committees for query-by-committee: bagged copies of the project's model (Abe &
Mamitsuka 1998) or one model of each of several families (Melville & Mooney 2004).
Split from `strategies.models`, which trains the single models they are made of."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from strategies._space import Matrix, check_pool, n_rows
from strategies.models import EstimatorModel, LinearModel, check_labels, train_model


def bootstrap_indices(y: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Stratified bootstrap sample: resample within each class so every class survives."""
    parts = [
        rng.choice(idx, size=len(idx), replace=True)
        for idx in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    return np.sort(np.concatenate(parts))


def train_committee(
    X: Matrix,
    y: np.ndarray,
    n_classes: int,
    *,
    size: int = 5,
    C: float | str | None = "default",
    random_state: int | None = None,
) -> list[LinearModel]:
    """Query-by-bagging committee (Abe & Mamitsuka 1998): ``size`` models on bootstrap samples.

    Each bag is stratified so no member loses a class seen in the labels.
    """
    if size < 1:
        raise ValueError("committee size must be at least 1")
    X = check_pool(X, "X")
    y = check_labels(y, n_classes, n_rows(X))
    rng = check_random_state(random_state)
    committee = []
    for _ in range(size):
        rows = bootstrap_indices(y, rng)
        seed = int(rng.randint(2**31 - 1))
        committee.append(train_model(X[rows], y[rows], n_classes, C=C, random_state=seed))  # type: ignore[index]
    return committee


def train_mixed_committee(
    X: Matrix, y: np.ndarray, n_classes: int, *, random_state: int | None = None
) -> list[Any]:
    """A committee of different model families on all the labels (not bootstrap copies).

    Logistic regression, naive Bayes (complement NB on sparse non-negative text, Gaussian
    on dense), k nearest neighbours (cosine) and a random forest: they disagree where
    their inductive biases do, which bagged copies of one model rarely show (Melville &
    Mooney 2004 on committee diversity).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import ComplementNB, GaussianNB
    from sklearn.neighbors import KNeighborsClassifier

    X = check_pool(X, "X")
    y = check_labels(y, n_classes, n_rows(X))
    sparse_nonneg = sp.issparse(X) and bool(np.all(np.asarray(X.data) >= 0))  # type: ignore[union-attr]
    others = [
        ComplementNB(alpha=0.3) if sparse_nonneg else GaussianNB(),
        KNeighborsClassifier(n_neighbors=min(5, len(y)), metric="cosine", weights="distance"),
        RandomForestClassifier(n_estimators=50, random_state=random_state, n_jobs=1),
    ]
    members: list[Any] = [train_model(X, y, n_classes, random_state=random_state)]
    members += [EstimatorModel(m, n_classes, random_state=random_state).fit(X, y) for m in others]
    return members
