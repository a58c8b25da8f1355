"""Holdout evaluation with 95% intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, f1_score, hamming_loss

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
    # The interval holds p; at p = 0 or 1 rounding would leave it a hair outside (a low
    # of 2e-17 above an estimate of 0), so the bounds are clipped to p.
    low, high = (centre - half) / denom, (centre + half) / denom
    return float(min(max(0.0, low), p)), float(max(min(1.0, high), p))


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


# The figure stopping rules and the forecast read, per task: a multi-label model is
# judged by micro F1 (every label decision counts once), not by exact-set accuracy; a
# span model by entity-level F1 (`spans.metrics.evaluate_spans`'s "f1").
HEADLINE_METRIC: dict[str, str] = {"single": "accuracy", "multilabel": "micro_f1", "spans": "f1"}


def evaluate_multilabel(
    Y_true: np.ndarray,
    Y_pred: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """Multi-label holdout metrics with 95% intervals (0/1 indicator matrices ``(n, L)``).

    Micro and macro F1 and Hamming loss with percentile bootstrap intervals over items
    (Efron & Tibshirani 1993; the labels of one item are not independent, so items are
    resampled, not cells); subset (exact-set) accuracy with the Wilson interval. Point
    values are scikit-learn's (``zero_division=0``).
    """
    yt = np.asarray(Y_true, dtype=np.int64)
    yp = np.asarray(Y_pred, dtype=np.int64)
    if yt.shape != yp.shape or yt.ndim != 2:
        raise ValueError("Y_true and Y_pred must be 2-d indicator matrices of equal shape")
    if not (np.isin(yt, (0, 1)).all() and np.isin(yp, (0, 1)).all()):
        raise ValueError("Y_true and Y_pred must hold 0/1 indicators")
    n = len(yt)
    names = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss")
    if n == 0:
        empty: dict[str, Any] = {"n": 0}
        for name in names:
            empty.update({name: None, f"{name}_low": None, f"{name}_high": None})
        return empty
    exact = int((yt == yp).all(axis=1).sum())
    point = {
        "micro_f1": float(f1_score(yt, yp, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(yt, yp, average="macro", zero_division=0)),
        "subset_accuracy": exact / n,
        "hamming_loss": float(hamming_loss(yt, yp)),
    }
    bands = _multilabel_bootstrap(yt, yp, resamples, random_state)
    bands["subset_accuracy"] = wilson_interval(exact, n)
    out: dict[str, Any] = {"n": n}
    for name in names:
        low, high = bands[name]
        out.update({name: point[name], f"{name}_low": low, f"{name}_high": high})
    return out


def _multilabel_bootstrap(
    yt: np.ndarray, yp: np.ndarray, resamples: int, random_state: int | None
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of micro F1, macro F1 and Hamming loss: each resample is a
    row of item counts ``W``, so every sum is one matrix product."""
    n, n_labels = yt.shape
    tp, fp, fn = yt & yp, (1 - yt) & yp, yt & (1 - yp)
    rng = np.random.default_rng(random_state)
    W = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    TP, FP, FN = W @ tp, W @ fp, W @ fn  # (resamples, L)
    micro = _f1(TP.sum(axis=1), FP.sum(axis=1), FN.sum(axis=1))
    macro = _f1(TP, FP, FN).mean(axis=1)
    hamming = (W @ (yt != yp).sum(axis=1)) / (n * n_labels)
    return {
        name: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
        for name, v in (("micro_f1", micro), ("macro_f1", macro), ("hamming_loss", hamming))
    }


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """``2 TP / (2 TP + FP + FN)``, 0 where undefined."""
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(np.shape(denom)), where=denom > 0)


def learning_curve_auc(curve: Sequence[dict[str, Any]], key: str = "accuracy") -> float:
    """Normalised area under the learning curve: trapezoid over labels / label range."""
    x = np.asarray([p["labels"] for p in curve], dtype=np.float64)
    y = np.asarray([p[key] for p in curve], dtype=np.float64)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y.mean()) if len(y) else 0.0
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def labels_to_reach(
    curve: Sequence[dict[str, Any]], target: float, key: str = "accuracy"
) -> int | None:
    """Fewest labels at which the curve's ``key`` (accuracy, micro F1, entity F1)
    reaches ``target`` (None if never)."""
    for p in curve:
        if p[key] >= target:
            return int(p["labels"])
    return None
