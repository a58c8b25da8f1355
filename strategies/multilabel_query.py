"""Multi-label query strategies from the literature, over a pool's probability matrix.

``proba`` has shape ``(n, L)`` and holds ``P(label_j = 1 | x)`` (binary relevance, as
``models.MultilabelModel`` predicts). Some strategies also look at the labelled sets:
their mean cardinality (``label_rate``) or the distinct sets with their counts. Every
function is vectorised over the pool; none loops over items.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy
from scipy.stats import rankdata

from strategies.models import multilabel_sets

# Li & Guo (2013) choose beta per round from {0, 0.1, ..., 1}; a fixed middle value
# weighs margin uncertainty and cardinality inconsistency alike.
ADAPTIVE_BETA = 0.5
_TINY = 1e-12


def mmc_scores(proba: np.ndarray) -> np.ndarray:
    """Maximum loss reduction with maximal confidence (Yang et al. 2009, KDD).

    ``sum_j (1 - y_j f_j) / 2`` with ``f_j = 2 p_j - 1`` and ``y_j = +1`` on the ``m``
    most probable labels, ``-1`` elsewhere, i.e. ``sum_{top m} (1 - p_j) + sum_rest p_j``.
    The paper predicts ``m`` with a model of its own; here ``m`` is the expected number
    of labels ``round(sum_j p_j)``, at least 1.
    """
    n, L = proba.shape
    if L == 0:
        return np.zeros(n)
    m = np.clip(np.rint(proba.sum(axis=1)), 1, L).astype(np.int64)
    order = np.argsort(-proba, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(L)[None, :].repeat(n, axis=0), axis=1)
    positive = rank < m[:, None]
    return np.where(positive, 1.0 - proba, proba).sum(axis=1)


def max_margin_uncertainty(proba: np.ndarray) -> np.ndarray:
    """``1 / sep(x)`` with ``sep = min_{j in Y+} f_j - max_{j in Y-} f_j`` (Li & Guo 2013).

    ``f_j = 2 p_j - 1`` and ``Y+`` the predicted set; an empty side counts as the bound
    of ``f`` (1 above, -1 below), so an item with no predicted label is still ranked.
    """
    f = 2.0 * proba - 1.0
    positive = multilabel_sets(proba)
    low_pos = np.where(positive, f, 1.0).min(axis=1, initial=1.0)
    high_neg = np.where(positive, -1.0, f).max(axis=1, initial=-1.0)
    return 1.0 / np.maximum(low_pos - high_neg, 1e-6)


def cardinality_inconsistency(proba: np.ndarray, label_rate: float) -> np.ndarray:
    """``| |Y+(x)| - mean labelled cardinality |`` (Li & Guo 2013, eq. 6)."""
    return np.abs(multilabel_sets(proba).sum(axis=1) - label_rate)


def adaptive_scores(
    proba: np.ndarray, label_rate: float, beta: float = ADAPTIVE_BETA
) -> np.ndarray:
    """Adaptive active learning (Li & Guo 2013, IJCAI): ``u(x)^beta * c(x)^(1 - beta)``.

    ``u``: max-margin uncertainty, ``c``: label cardinality inconsistency.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError("beta must be in [0, 1]")
    u = max_margin_uncertainty(proba)
    c = cardinality_inconsistency(proba, label_rate)
    return np.power(u, beta) * np.power(c, 1.0 - beta)


def margin_rank_scores(proba: np.ndarray) -> np.ndarray:
    """Borda count of per-label margins (Reyes et al. 2018, eq. 3).

    Per label, the pool is ranked by ``|2 p_j - 1|`` ascending (rank 1 = least sure,
    ties share their mean rank); ``s(x) = sum_j (n - rank_j(x)) / (L (n - 1))``, in [0, 1].
    """
    n, L = proba.shape
    if n < 2 or L == 0:
        return np.ones(n)
    rank = rankdata(np.abs(2.0 * proba - 1.0), method="average", axis=0)
    return np.asarray((n - rank).sum(axis=1) / (L * (n - 1.0)))


def _entropy(counts: np.ndarray, total: int) -> np.ndarray:
    share = counts / total
    return -xlogy(share, share)


def set_distances(predicted: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Distance of every predicted set to every labelled set (Reyes et al. 2018, eq. 5).

    With ``a, b, c, d`` the (1,1), (1,0), (0,1), (0,0) cells over the ``L`` labels:
    1 where the sets disagree on every label (normalised Hamming 1), else the normalised
    information distance ``(2 H(a, b) - H(a) - H(b)) / H(a, b)`` (0 for equal sets).
    Shape ``(len(predicted), len(labelled))``.
    """
    L = predicted.shape[1]
    P, Q = predicted.astype(np.float64), labelled.astype(np.float64)
    a = P @ Q.T
    b = P @ (1.0 - Q).T
    c = (1.0 - P) @ Q.T
    d = L - a - b - c
    joint = sum(_entropy(cell, L) for cell in (a, b, c, d))
    ones_p, ones_q = P.sum(axis=1)[:, None], Q.sum(axis=1)[None, :]
    h_p = _entropy(ones_p, L) + _entropy(L - ones_p, L)
    h_q = _entropy(ones_q, L) + _entropy(L - ones_q, L)
    with np.errstate(divide="ignore", invalid="ignore"):
        info = np.where(joint > _TINY, (2.0 * joint - h_p - h_q) / joint, 0.0)
    return np.where(b + c == L, 1.0, np.clip(info, 0.0, 1.0))


def vector_inconsistency(
    proba: np.ndarray, label_sets: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Mean distance of each predicted set to the labelled sets (Reyes et al. 2018, eq. 4).

    ``label_sets`` are the distinct labelled sets and ``counts`` how many items hold
    each; distances are computed between distinct sets only, so the cost does not grow
    with the pool or the labels, only with how many different sets there are.
    """
    n = proba.shape[0]
    if len(label_sets) == 0:
        return np.ones(n)
    found, inverse = np.unique(multilabel_sets(proba).astype(np.int64), axis=0, return_inverse=True)
    weights = np.asarray(counts, dtype=np.float64) / float(np.sum(counts))
    per_set = set_distances(found, np.asarray(label_sets)) @ weights
    return np.asarray(per_set[np.ravel(inverse)])


def cvirs_scores(proba: np.ndarray, label_sets: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """CVIRS (Reyes, Morell & Ventura 2018): ranking uncertainty times category vector
    inconsistency, ``s(x) * v(x)``."""
    return margin_rank_scores(proba) * vector_inconsistency(proba, label_sets, counts)
