"""Models: multinomial logistic regression that always answers for every class.

The platform trains on whatever consensus labels exist, which early on may cover one
class or one item. ``LinearModel`` keeps a column for every class in ``[0, n_classes)``
so scores and stored predictions line up with the project's label list.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from strategies._space import Matrix, check_pool, n_rows
from strategies.model_search import C_grid, cv_search, default_C, reusable_choice


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


class _AllClasses(ClassifierMixin, BaseEstimator, abc.ABC):  # type: ignore[misc]
    """What both our model classes share: answers for every class in ``[0, n_classes)``.

    ``_start_fit`` validates and records the classes, the labels' smoothed prior
    ``(n_y + 1) / (n + K)`` (Laplace; the answer while one class is labelled) and the
    width; ``_proba`` lays the fitted estimator's columns out over every class.
    """

    n_classes: int
    estimator_: Any
    random_state: int | None

    def _start_fit(self, X: Matrix, y: np.ndarray) -> tuple[Matrix, np.ndarray]:
        X = check_pool(X, "X")
        y = check_labels(y, self.n_classes, n_rows(X))
        if len(y) == 0:
            raise ValueError("cannot train a model without labelled items")
        self.classes_ = np.arange(self.n_classes)
        self.present_ = np.unique(y)
        counts = np.bincount(y, minlength=self.n_classes)
        self.prior_ = (counts + 1.0) / (len(y) + self.n_classes)
        self.n_features_in_ = X.shape[1]  # type: ignore[index]
        self.estimator_ = None
        self.chosen_: dict[str, Any] = {}
        return X, y

    def _search(
        self,
        make: Callable[[dict[str, Any]], Any],
        grid: Mapping[str, Sequence[Any]],
        X: Matrix,
        y: np.ndarray,
        previous: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """``grid``'s point by CV, or the ``previous`` fit's while it stands; kept in
        ``chosen_`` with ``searched`` (whether a search chose it) and ``searched_at``."""
        point = reusable_choice(previous, grid, len(y))
        if point is not None:
            self.chosen_ = {**point, "searched": True, "searched_at": previous["searched_at"]}  # type: ignore[index]
            return point
        point = cv_search(make, grid, X, y, random_state=self.random_state)
        self.chosen_ = {**(point or {}), "searched": point is not None}
        if point is not None:
            self.chosen_["searched_at"] = len(y)
        return point

    def _proba(self, X: Matrix, rows: Callable[[Matrix], Matrix]) -> np.ndarray:
        """Probabilities of every class for ``X``; ``rows`` maps X to the estimator's input."""
        X = check_pool(X, "X")
        n = n_rows(X)
        if self.estimator_ is None or n == 0:
            return np.tile(self.prior_, (n, 1))
        proba = np.zeros((n, self.n_classes))
        classes = np.asarray(self.estimator_.classes_, dtype=np.int64)
        proba[:, classes] = self.estimator_.predict_proba(rows(X))
        return proba

    def predict(self, X: Matrix) -> np.ndarray:
        """The most probable class of every row."""
        return np.asarray(np.argmax(self.predict_proba(X), axis=1))

    @abc.abstractmethod
    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Probabilities of every class for ``X`` (one column per class, in order)."""


class LinearModel(_AllClasses):
    """L2-regularised multinomial logistic regression over a fixed set of classes.

    ``p(y|x) = softmax(W x + b)_y`` (L-BFGS when dense, Newton-CG when sparse). Classes
    absent from the training labels get probability 0. With a single labelled class the
    model predicts it with the smoothed prior ``(n_y + 1) / (n + K)`` (Laplace), so
    uncertainty is defined but small.
    """

    def __init__(
        self,
        n_classes: int = 2,
        C: float | str | None = None,
        max_iter: int = 500,
        random_state: int | None = None,
        class_weight: str | None = None,
        previous: Mapping[str, Any] | None = None,
    ) -> None:
        self.n_classes = n_classes
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state
        self.class_weight = class_weight
        self.previous = previous

    def fit(self, X: Matrix, y: np.ndarray) -> LinearModel:
        X, y = self._start_fit(X, y)
        # Hashed text has 2**17 columns but a few labelled items touch only a few
        # thousand; the L2 optimum puts weight 0 on the others, so fit on those alone.
        self.columns_ = np.unique(X.indices) if sp.issparse(X) else None  # type: ignore[union-attr]
        if len(self.present_) > 1:
            C = self._pick_C(X, y)
            # Newton-CG converges in a handful of steps on wide sparse text, where L-BFGS
            # spends its time updating a huge curvature memory; L-BFGS is quicker when dense.
            self.estimator_ = LogisticRegression(
                C=C,
                class_weight=self.class_weight,
                solver="newton-cg" if sp.issparse(X) else "lbfgs",
                max_iter=self.max_iter,
                random_state=self.random_state,
            )
            # Labelled sets are small: BLAS threads only add contention on a busy worker.
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.estimator_.fit(self._active(X), y)
        return self

    def _pick_C(self, X: Matrix, y: np.ndarray) -> float:
        """``C``, or with ``C="cv"`` the best of ``C_grid`` by CV on these labels (or the
        ``previous`` fit's choice while it stands: ``reusable_choice``)."""
        if self.C is None:
            return default_C(X)
        if self.C != "cv":
            return float(self.C)

        def make(params: dict[str, Any]) -> LinearModel:
            return LinearModel(
                self.n_classes,
                C=params["C"],
                max_iter=self.max_iter,
                random_state=self.random_state,
                class_weight=self.class_weight,
            )

        chosen = self._search(make, {"C": C_grid(X)}, X, y, self.previous)
        C = default_C(X) if chosen is None else float(chosen["C"])
        self.chosen_["C"] = C
        return C

    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, rows summing to 1."""
        return self._proba(X, self._active)

    def _active(self, X: Matrix) -> Matrix:
        if self.columns_ is None:
            return X
        if X.shape[1] != self.n_features_in_:  # type: ignore[index]
            raise ValueError(f"X has {X.shape[1]} features, the model {self.n_features_in_}")  # type: ignore[index]
        return sp.csr_matrix(X)[:, self.columns_]


class EstimatorModel(_AllClasses):
    """Any scikit-learn classifier with ``predict_proba``, answering for every class.

    The platform's user-chosen model (``ModelSpec.estimator``). Like ``LinearModel``,
    classes missing from the labels get probability 0, and a single labelled class
    gives the smoothed prior. With ``grid``, each fit first picks the grid point by CV
    (``cv_search``; the choice is kept in ``chosen_``), or keeps ``previous``'s choice
    while it stands (``reusable_choice``).
    """

    def __init__(
        self,
        estimator: Any = None,
        n_classes: int = 2,
        grid: Mapping[str, Sequence[Any]] | None = None,
        random_state: int | None = None,
        previous: Mapping[str, Any] | None = None,
    ) -> None:
        self.estimator = estimator
        self.n_classes = n_classes
        self.grid = grid
        self.random_state = random_state
        self.previous = previous

    def fit(self, X: Matrix, y: np.ndarray) -> EstimatorModel:
        X, y = self._start_fit(X, y)
        if self.estimator is None or not hasattr(self.estimator, "predict_proba"):
            raise ValueError("the estimator must be a classifier with predict_proba")
        if len(self.present_) > 1:
            params: dict[str, Any] = {}
            if self.grid:
                found = self._search(
                    lambda p: clone(self.estimator).set_params(**p), self.grid, X, y, self.previous
                )
                params = found or {}
            self.estimator_ = clone(self.estimator).set_params(**params)
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.estimator_.fit(X, y)
        return self

    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, rows summing to 1."""
        return self._proba(X, lambda rows: rows)


@dataclass(frozen=True)
class ModelSpec:
    """Which model a project (or a simulation) trains: ours by default, or the user's.

    ``estimator``: an unfitted scikit-learn classifier with ``predict_proba`` (None =
    ``LinearModel``); ``grid``: hyperparameters searched by CV (``cv_search``, skipped
    below ``MIN_SEARCH_LABELS`` labels, redone as the labels grow by ``RESEARCH_GROWTH``);
    ``name``: what the dashboard shows. ``linear``: whether the closed-form strategies (EGL) apply.
    """

    estimator: Any = None
    grid: Mapping[str, Sequence[Any]] | None = None
    name: str = "logistic_regression"
    params: Mapping[str, Any] | None = None  # of LinearModel, when estimator is None

    @property
    def linear(self) -> bool:
        return self.estimator is None

    def build(
        self,
        n_classes: int,
        random_state: int | None = None,
        previous: Mapping[str, Any] | None = None,
    ) -> Model:
        """The unfitted model; ``previous``: an earlier fit's ``chosen_`` (``reusable_choice``)."""
        if self.estimator is None:
            options = {"C": DEFAULT_C, "class_weight": DEFAULT_CLASS_WEIGHT, **(self.params or {})}
            return LinearModel(
                n_classes=n_classes, random_state=random_state, previous=previous, **options
            )
        return EstimatorModel(
            self.estimator,
            n_classes=n_classes,
            grid=self.grid,
            random_state=random_state,
            previous=previous,
        )


# What ``train_model`` uses when not told (chosen with benchmarks/learning.py): ``"cv"``
# picks C per fit (see ``LinearModel``), None is ``default_C``. Read at call time.
DEFAULT_C: float | str | None = "cv"
DEFAULT_CLASS_WEIGHT: str | None = None


def train_model(
    X: Matrix,
    y: np.ndarray,
    n_classes: int,
    *,
    C: float | str | None = "default",
    random_state: int | None = None,
    spec: ModelSpec | None = None,
    previous: Mapping[str, Any] | None = None,
) -> Any:
    """Fit the project's model on the labelled items: ``spec``'s, else a ``LinearModel``.

    ``previous``: the last fit's ``chosen_``, whose searched hyperparameters are kept
    while the labels have grown by less than ``RESEARCH_GROWTH`` since that search.
    """
    if spec is not None:
        return spec.build(n_classes, random_state, previous).fit(X, y)  # type: ignore[attr-defined]
    return LinearModel(
        n_classes=n_classes,
        C=DEFAULT_C if C == "default" else C,
        random_state=random_state,
        class_weight=DEFAULT_CLASS_WEIGHT,
        previous=previous,
    ).fit(X, y)


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
        # What the labelled sets look like, for the strategies that compare a predicted
        # set with them (``multilabel_query``): mean cardinality, distinct sets, counts.
        self.label_rate_ = float(Y.sum(axis=1).mean()) if len(Y) else 0.0
        self.label_sets_, self.label_set_counts_ = np.unique(
            Y.astype(np.int64).reshape(len(Y), self.n_labels), axis=0, return_counts=True
        )
        return self

    def predict_proba(self, X: Matrix) -> np.ndarray:
        """Per-label positive probabilities, shape ``(n, n_labels)``."""
        X = check_pool(X, "X")
        return np.column_stack([m.predict_proba(X)[:, 1] for m in self.estimators_])

    def predict(self, X: Matrix) -> np.ndarray:
        """0/1 indicator matrix, ``P(label_j = 1) >= 0.5`` (``multilabel_sets``)."""
        return multilabel_sets(self.predict_proba(X)).astype(np.int64)


def multilabel_sets(proba: np.ndarray) -> np.ndarray:
    """The predicted sets as a boolean matrix: each label whose probability is at least
    one half (the Bayes decision of each binary model under 0/1 loss)."""
    return np.asarray(proba) >= 0.5


def train_multilabel_model(
    X: Matrix, Y: np.ndarray, *, C: float | None = None, random_state: int | None = None
) -> MultilabelModel:
    """Fit one binary logistic regression per label (binary relevance / one-vs-rest)."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError("Y must be a 2-d 0/1 indicator matrix")
    return MultilabelModel(n_labels=Y.shape[1], C=C, random_state=random_state).fit(X, Y)
