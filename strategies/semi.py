"""Semi-supervised refits measured for issue 15: pseudo-labels on confident pool items.

Two sources of pseudo-labels for the unlabelled pool, both followed by one refit of the
same model on the true labels plus the pseudo-labels:

* ``self-training`` (Yarowsky 1995; Lee 2013): the model's own most confident
  predictions.
* ``label-spreading`` (Zhou et al. 2004): sklearn's ``LabelSpreading`` (kNN graph) over
  the pool's low-rank embedding (``_space.embed``), its most confident spread labels.

Both keep only items whose confidence is at least ``THRESHOLD`` and add at most
``MAX_RATIO`` times as many pseudo-labels as true labels (the most confident first),
so a few early labels cannot be swamped by their own echo. Not in the platform:
``benchmarks/learning.py --variant self-training|label-spreading`` measures them
(docs/learning-benchmark.md). ``MODE`` None (the default) switches them off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strategies._space import embed, n_rows
from strategies.datasets import Split
from strategies.models import LinearModel, train_model

MODE: str | None = None  # None, "self-training" or "label-spreading"; read at call time
THRESHOLD = 0.9
MAX_RATIO = 1.0
SPREADING_NEIGHBOURS = 7


def confident_rows(proba: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and argmax labels of the rows to pseudo-label, most confident first.

    Rows need ``max(proba) >= THRESHOLD``; at most ``MAX_RATIO * n_labels`` are kept.
    """
    if len(proba) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    confidence = proba.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    order = order[confidence[order] >= THRESHOLD][: int(MAX_RATIO * n_labels)]
    return order.astype(np.int64), np.argmax(proba[order], axis=1).astype(np.int64)


def spread_proba(Z: np.ndarray, labeled: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Label distributions of every row of ``Z`` after spreading ``y`` from ``labeled``.

    Rows the graph does not reach get all-zero rows (never confident).
    """
    from sklearn.semi_supervised import LabelSpreading

    targets = np.full(len(Z), -1, dtype=np.int64)
    targets[labeled] = y
    k = int(min(SPREADING_NEIGHBOURS, len(Z) - 1))
    spreading = LabelSpreading(kernel="knn", n_neighbors=max(k, 1), alpha=0.2, max_iter=100)
    spreading.fit(Z, targets)
    dist = np.nan_to_num(np.asarray(spreading.label_distributions_, dtype=np.float64))
    proba = np.zeros((len(Z), n_classes))
    proba[:, np.asarray(spreading.classes_[spreading.classes_ >= 0], dtype=np.int64)] = dist
    return proba


def pseudo_label_refit(model: Any, split: Split, labeled: np.ndarray) -> Any:
    """``model`` refitted with pseudo-labels per ``MODE`` (``model`` itself when off).

    The refit keeps the C the model chose on the true labels (cross-validating on
    pseudo-labels would grade them against themselves). Label spreading caches the
    pool's embedding on ``split`` (the one the diversity selector uses).
    """
    y_labeled = split.y_pool[labeled]
    if MODE is None or not isinstance(model, LinearModel) or len(np.unique(y_labeled)) < 2:
        return model
    unlabeled = np.setdiff1d(np.arange(n_rows(split.X_pool)), labeled)
    if MODE == "self-training":
        proba = model.predict_proba(split.X_pool[unlabeled])  # type: ignore[index]
    elif MODE == "label-spreading":
        if split.embedding is None:
            split.embedding = embed(split.X_pool, random_state=split.seed)
        proba = spread_proba(split.embedding, labeled, y_labeled, split.n_classes)[unlabeled]
    else:
        raise ValueError(f"unknown semi-supervised mode {MODE!r}")
    rows, pseudo = confident_rows(proba, len(labeled))
    if len(rows) == 0:
        return model
    C = model.chosen_.get("C", model.C)
    X_all = split.X_pool[np.concatenate([labeled, unlabeled[rows]])]  # type: ignore[index]
    y_all = np.concatenate([y_labeled, pseudo])
    return train_model(X_all, y_all, split.n_classes, C=C, random_state=split.seed)
