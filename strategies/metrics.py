"""Holdout evaluation with 95% intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, f1_score

Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 500


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927) for a binomial proportion.

    ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``.
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, (centre - half) / denom)), float(min(1.0, (centre + half) / denom))


def macro_f1_from_confusion(conf: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Macro F1 over ``labels`` from confusion counts of shape ``(..., K, K)`` (true, pred).

    ``F1_y = 2 TP / (2 TP + FP + FN)``, 0 where undefined (sklearn's ``zero_division=0``).
    """
    tp = np.diagonal(conf, axis1=-2, axis2=-1)
    fp = conf.sum(axis=-2) - tp
    fn = conf.sum(axis=-1) - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(denom.shape, dtype=np.float64), where=denom > 0)
    return f1[..., labels].mean(axis=-1)


def bootstrap_macro_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    random_state: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap (Efron & Tibshirani 1993) 95% interval of macro F1.

    Vectorised: resample counts are multinomial, confusion matrices one product.
    """
    n = len(y_true)
    if n == 0:
        return 0.0, 1.0
    labels = np.union1d(y_true, y_pred)
    rng = np.random.default_rng(random_state)
    cell = sp.csr_matrix(
        (np.ones(n), (np.arange(n), y_true * n_classes + y_pred)), shape=(n, n_classes * n_classes)
    )
    chunk = max(1, 2_000_000 // n)  # bounds memory on large holdouts
    f1 = np.concatenate(
        [
            macro_f1_from_confusion(
                np.asarray(cell.T @ rng.multinomial(n, np.full(n, 1.0 / n), size=m).T).T.reshape(
                    m, n_classes, n_classes
                ),
                labels,
            )
            for m in _chunks(resamples, chunk)
        ]
    )
    low, high = np.percentile(f1, [2.5, 97.5])
    return float(low), float(high)


def _chunks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def evaluate(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, *, random_state: int | None = 0
) -> dict[str, Any]:
    """Accuracy (Wilson 95% interval) and macro F1 (seeded bootstrap 95% interval)."""
    yt = np.asarray(y_true, dtype=np.int64)
    yp = np.asarray(y_pred, dtype=np.int64)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-d and of equal length")
    n = len(yt)
    if n == 0:
        return {
            "n": 0,
            "accuracy": None,
            "accuracy_low": None,
            "accuracy_high": None,
            "macro_f1": None,
            "macro_f1_low": None,
            "macro_f1_high": None,
        }
    if min(yt.min(), yp.min()) < 0 or max(yt.max(), yp.max()) >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes})")
    correct = int((yt == yp).sum())
    acc_low, acc_high = wilson_interval(correct, n)
    labels = np.union1d(yt, yp)
    f1_low, f1_high = bootstrap_macro_f1(yt, yp, n_classes, random_state=random_state)
    return {
        "n": n,
        "accuracy": float(accuracy_score(yt, yp)),
        "accuracy_low": acc_low,
        "accuracy_high": acc_high,
        "macro_f1": float(f1_score(yt, yp, labels=labels, average="macro", zero_division=0)),
        "macro_f1_low": f1_low,
        "macro_f1_high": f1_high,
    }


def learning_curve_auc(curve: Sequence[dict[str, Any]], key: str = "accuracy") -> float:
    """Normalised area under the learning curve: trapezoid over labels / label range."""
    x = np.asarray([p["labels"] for p in curve], dtype=np.float64)
    y = np.asarray([p[key] for p in curve], dtype=np.float64)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y.mean()) if len(y) else 0.0
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def labels_to_reach(curve: Sequence[dict[str, Any]], target: float) -> int | None:
    """Fewest labels at which the curve's accuracy reaches ``target`` (None if never)."""
    for p in curve:
        if p["accuracy"] >= target:
            return int(p["labels"])
    return None
