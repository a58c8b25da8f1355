"""Models: multinomial logistic regression that always answers for every class.

The platform trains on whatever consensus labels exist, which early on may cover one
class or one item. ``LinearModel`` keeps a column for every class in ``[0, n_classes)``
so scores and stored predictions line up with the project's label list.
"""

from __future__ import annotations

import warnings
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from strategies._space import Matrix, check_pool, n_rows


class Model(Protocol):
    """What the platform needs from a trained model."""

    def predict_proba(self, X: Matrix) -> np.ndarray: ...

    def predict(self, X: Matrix) -> np.ndarray: ...


def check_labels(y: object, n_classes: int, n: int) -> np.ndarray:
    """Validate integer class labels in ``[0, n_classes)`` aligned with ``n`` rows."""
    if n_classes < 1:
        raise ValueError("n_classes must be at least 1")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or len(y_arr) != n:
        raise ValueError(f"y must be 1-d with one label per row ({n}), got shape {y_arr.shape}")
    integral = np.issubdtype(y_arr.dtype, np.integer) or np.all(np.mod(y_arr, 1) == 0)
    if len(y_arr) and not integral:
        raise ValueError("y must hold integer class indices")
    y_int = y_arr.astype(np.int64)
    if len(y_int) and (y_int.min() < 0 or y_int.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    return y_int


def default_C(X: Matrix) -> float:
    """Inverse regularisation: weaker for l2-normalised sparse text (features are small)."""
    return 10.0 if sp.issparse(X) else 1.0


class LinearModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """L2-regularised multinomial logistic regression over a fixed set of classes.

    ``p(y|x) = softmax(W x + b)_y`` (L-BFGS when dense, Newton-CG when sparse). Classes
    absent from the training labels get probability 0. With a single labelled class the
    model predicts it with the smoothed prior ``(n_y + 1) / (n + K)`` (Laplace), so
    uncertainty is defined but small.
    """

    def __init__(
        self,
        n_classes: int = 2,
        C: float | None = None,
        max_iter: int = 500,
        random_state: int | None = None,
    ) -> None:
        self.n_classes = n_classes
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: Matrix, y: np.ndarray) -> LinearModel:
        X = check_pool(X, "X")
        y = check_labels(y, self.n_classes, n_rows(X))
        if len(y) == 0:
            raise ValueError("cannot train a model without labelled items")
        self.classes_ = np.arange(self.n_classes)
        self.present_ = np.unique(y)
        counts = np.bincount(y, minlength=self.n_classes)
        self.prior_ = (counts + 1.0) / (len(y) + self.n_classes)
        self.n_features_in_ = X.shape[1]  # type: ignore[index]
        self.estimator_: LogisticRegression | None = None
        # Hashed text has 2**17 columns but a few labelled items touch only a few
        # thousand; the L2 optimum puts weight 0 on the others, so fit on those alone.
        self.columns_ = np.unique(X.indices) if sp.issparse(X) else None  # type: ignore[union-attr]
        if len(self.present_) > 1:
            C = default_C(X) if self.C is None else self.C
            # Newton-CG converges in a handful of steps on wide sparse text, where L-BFGS
            # spends its time updating a huge curvature memory; L-BFGS is quicker when dense.
            self.estimator_ = LogisticRegression(
                C=C,
                solver="newton-cg" if sp.issparse(X) else "lbfgs",
                max_iter=self.max_iter,
                random_state=self.random_state,
            )
            # Labelled sets are small: BLAS threads only add contention on a busy worker.
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.estimator_.fit(self._active(X), y)
        return self

    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, rows summing to 1."""
        X = check_pool(X, "X")
        n = n_rows(X)
        if self.estimator_ is None or n == 0:
            return np.tile(self.prior_, (n, 1))
        proba = np.zeros((n, self.n_classes))
        proba[:, self.estimator_.classes_] = self.estimator_.predict_proba(self._active(X))
        return proba

    def _active(self, X: Matrix) -> Matrix:
        if self.columns_ is None:
            return X
        if X.shape[1] != self.n_features_in_:  # type: ignore[index]
            raise ValueError(f"X has {X.shape[1]} features, the model {self.n_features_in_}")  # type: ignore[index]
        return sp.csr_matrix(X)[:, self.columns_]

    def predict(self, X: Matrix) -> np.ndarray:
        """The most probable class of every row."""
        return np.asarray(np.argmax(self.predict_proba(X), axis=1))


def train_model(
    X: Matrix,
    y: np.ndarray,
    n_classes: int,
    *,
    C: float | None = None,
    random_state: int | None = None,
) -> LinearModel:
    """Fit a ``LinearModel`` (multinomial logistic regression) on the labelled items."""
    return LinearModel(n_classes=n_classes, C=C, random_state=random_state).fit(X, y)


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
    C: float | None = None,
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


class MultilabelModel(BaseEstimator):  # type: ignore[misc]
    """One-vs-rest binary ``LinearModel`` per label; ``predict_proba`` gives ``P(label_j = 1)``."""

    def __init__(
        self, n_labels: int = 2, C: float | None = None, random_state: int | None = None
    ) -> None:
        self.n_labels = n_labels
        self.C = C
        self.random_state = random_state

    def fit(self, X: Matrix, Y: np.ndarray) -> MultilabelModel:
        X = check_pool(X, "X")
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape != (n_rows(X), self.n_labels):
            raise ValueError(f"Y must have shape ({n_rows(X)}, {self.n_labels})")
        if not np.isin(Y, (0, 1)).all():
            raise ValueError("Y must hold 0/1 label indicators")
        self.estimators_ = [
            train_model(X, Y[:, j].astype(np.int64), 2, C=self.C, random_state=self.random_state)
            for j in range(self.n_labels)
        ]
        return self

    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Per-label positive probabilities, shape ``(n, n_labels)``."""
        X = check_pool(X, "X")
        return np.column_stack([m.predict_proba(X)[:, 1] for m in self.estimators_])

    def predict(self, X: Matrix) -> np.ndarray:
        """0/1 indicator matrix, ``P(label_j = 1) >= 0.5``."""
        return (self.predict_proba(X) >= 0.5).astype(np.int64)


def train_multilabel_model(
    X: Matrix, Y: np.ndarray, *, C: float | None = None, random_state: int | None = None
) -> MultilabelModel:
    """Fit one binary logistic regression per label (binary relevance / one-vs-rest)."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError("Y must be a 2-d 0/1 indicator matrix")
    return MultilabelModel(n_labels=Y.shape[1], C=C, random_state=random_state).fit(X, Y)
