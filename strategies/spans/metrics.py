"""Entity-level precision, recall and F1 on a holdout (seqeval), with bootstrap intervals.

An entity counts as found only when its label and both boundaries match (CoNLL-2003's
measure, seqeval's default mode). Intervals resample sentences, not entities, since the
entities of one sentence are not independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from seqeval.metrics import f1_score, precision_score, recall_score

from strategies.metrics import BOOTSTRAP_RESAMPLES
from strategies.spans.tokens import tag_runs

Tags = Sequence[Sequence[str]]


def sentence_counts(y_true: Tags, y_pred: Tags) -> np.ndarray:
    """Per sentence: ``(correct, predicted, true)`` entity counts, shape ``(n, 3)``."""
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred must hold the same number of sentences")
    rows = []
    for true, pred in zip(y_true, y_pred, strict=True):
        if len(true) != len(pred):
            raise ValueError("every sentence needs as many predicted tags as true tags")
        t, p = set(tag_runs(true)), set(tag_runs(pred))
        rows.append((len(t & p), len(p), len(t)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def prf_from_counts(counts: np.ndarray) -> np.ndarray:
    """``(..., 3)`` summed ``(correct, predicted, true)`` -> ``(..., 3)`` P, R, F1 (0 where
    undefined, as seqeval's ``zero_division`` default reports)."""
    correct, predicted, true = counts[..., 0], counts[..., 1], counts[..., 2]
    p = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
    r = np.divide(correct, true, out=np.zeros_like(correct), where=true > 0)
    total = predicted + true
    f1 = np.divide(2 * correct, total, out=np.zeros_like(correct), where=total > 0)
    return np.stack([p, r, f1], axis=-1)


def bootstrap_prf(
    counts: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, random_state: int | None = 0
) -> np.ndarray:
    """Percentile bootstrap (Efron & Tibshirani 1993) 95% intervals of P, R and F1 over
    sentences: ``(2, 3)``, rows low and high. Vectorised: multinomial resample weights
    times the per-sentence counts."""
    n = len(counts)
    if n == 0:
        return np.array([[0.0] * 3, [1.0] * 3])
    rng = np.random.default_rng(random_state)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    return np.percentile(prf_from_counts(weights @ counts), [2.5, 97.5], axis=0)


def evaluate_spans(y_true: Tags, y_pred: Tags, *, random_state: int | None = 0) -> dict[str, Any]:
    """Entity-level micro precision, recall, F1 (seqeval) with 95% bootstrap intervals,
    and ``n`` (sentences) and ``entities`` (true entities)."""
    counts = sentence_counts(y_true, y_pred)
    if not len(counts):
        return {"n": 0, "entities": 0, **{k: None for k in _KEYS}}
    (p_low, r_low, f_low), (p_high, r_high, f_high) = bootstrap_prf(
        counts, random_state=random_state
    )
    true, pred = [list(s) for s in y_true], [list(s) for s in y_pred]
    return {
        "n": len(counts),
        "entities": int(counts[:, 2].sum()),
        "precision": float(precision_score(true, pred, zero_division=0)),
        "precision_low": float(p_low),
        "precision_high": float(p_high),
        "recall": float(recall_score(true, pred, zero_division=0)),
        "recall_low": float(r_low),
        "recall_high": float(r_high),
        "f1": float(f1_score(true, pred, zero_division=0)),
        "f1_low": float(f_low),
        "f1_high": float(f_high),
    }


_KEYS = tuple(f"{m}{s}" for m in ("precision", "recall", "f1") for s in ("", "_low", "_high"))
