"""Batch selection: a batch is a set chosen on several criteria, not the top-k of a list.

``total = informativeness + w_r * representativeness + w_b * balance`` (each in [0, 1]),
divided by predicted seconds when cost-aware (expected gain per second, Settles et al.
2008 "Active learning with real annotation costs"); then a diversity step picks the set
from a shortlist of the ``k * shortlist_factor`` best rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import HuberRegressor
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import check_random_state

from strategies._space import Matrix, check_pool, cluster_density, embed, n_rows, top_desc

DIVERSITY_MODES = ("none", "cluster", "kcenter", "badge")
# Where diversity is measured: on a low-rank embedding of the pool (``_space.embed``;
# only differs from the features for sparse or wide ones, i.e. text), or on the
# features. Issue 15 measured the embedding better on text (docs/learning-benchmark.md,
# ``--variant features-diversity`` is the old choice). BADGE always embeds.
GEOMETRY = "embedding"


@dataclass(frozen=True)
class SelectorOptions:
    """How a batch is chosen. Weights of 0 switch a criterion off."""

    diversity: str = "none"
    shortlist_factor: int = 3
    representativeness: float = 0.0
    class_balance: float = 0.0
    cost_aware: bool = False

    def __post_init__(self) -> None:
        if self.diversity not in DIVERSITY_MODES:
            raise ValueError(f"diversity must be one of {DIVERSITY_MODES}")
        if self.shortlist_factor < 1:
            raise ValueError("shortlist_factor must be at least 1")
        if min(self.representativeness, self.class_balance) < 0:
            raise ValueError("weights must be non-negative")


@dataclass(frozen=True)
class SelectorPreset:
    name: str
    description: str
    options: SelectorOptions


SELECTORS: dict[str, SelectorPreset] = {
    p.name: p
    for p in (
        SelectorPreset("top_k", "The k highest scores, no diversity.", SelectorOptions()),
        SelectorPreset(
            "cluster",
            "Cluster the top 3k candidates, take the best of each cluster.",
            SelectorOptions(diversity="cluster"),
        ),
        SelectorPreset(
            "kcenter",
            "Greedy k-center over the top 3k candidates: informative and far apart.",
            SelectorOptions(diversity="kcenter"),
        ),
        SelectorPreset(
            "representative",
            "k-center diversity plus a bonus for dense regions (avoids outliers).",
            SelectorOptions(diversity="kcenter", representativeness=0.3),
        ),
        SelectorPreset(
            "balanced",
            "k-center diversity plus a bonus for rare predicted classes.",
            SelectorOptions(diversity="kcenter", class_balance=0.3),
        ),
        SelectorPreset(
            "cost_aware",
            "Expected gain per predicted second, k-center diversity.",
            SelectorOptions(diversity="kcenter", cost_aware=True),
        ),
    )
}


@dataclass
class Selection:
    """Picked pool rows in annotation order, with each pick's score components."""

    indices: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)

    def as_records(self) -> list[dict[str, Any]]:
        """One JSON-friendly dict per pick: ``{"index", "rank", <component>: float}``."""
        return [
            {"index": int(i), "rank": r, **{k: float(v[r]) for k, v in self.components.items()}}
            for r, i in enumerate(self.indices)
        ]


def options_for(selector: str | SelectorOptions) -> SelectorOptions:
    """Resolve a preset name (or pass options through)."""
    if isinstance(selector, SelectorOptions):
        return selector
    if selector not in SELECTORS:
        raise ValueError(f"unknown selector {selector!r}; choose from {sorted(SELECTORS)}")
    return SELECTORS[selector].options


def uses_geometry(options: SelectorOptions) -> bool:
    """Whether ``options`` measure diversity on the pool's low-rank embedding.

    The simulator and the platform ask this one question; both then pass the pool's
    rows under ``_space.fit_projection`` (fitted once per pool) as ``geometry``.
    """
    return options.diversity == "badge" or (GEOMETRY == "embedding" and options.diversity != "none")


def _unit(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def balance_scores(proba: np.ndarray, label_counts: np.ndarray | None = None) -> np.ndarray:
    """Expected rarity of an item's class: ``sum_y p_y * r_y``, ``r_y = 1 / (K * share_y)``.

    ``share_y`` is the class's share of the labels so far (add-one smoothed) or, without
    labels, of the predicted pool; rescaled to [0, 1].
    """
    K = proba.shape[1]
    counts = proba.sum(axis=0) if label_counts is None else np.asarray(label_counts, float)
    share = (counts + 1.0) / (counts.sum() + K)
    return _unit(proba @ (1.0 / (K * share)))


def _check_inputs(
    scores: object, X: Matrix, proba: np.ndarray | None, cost: np.ndarray | None
) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or len(s) != n_rows(X):
        raise ValueError(f"scores must be 1-d with one value per pool row ({n_rows(X)})")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    if proba is not None and np.shape(proba)[0] != len(s):
        raise ValueError("proba must have one row per pool row")
    if cost is not None:
        c = np.asarray(cost, dtype=np.float64)
        if c.shape != s.shape or not np.isfinite(c).all() or (c <= 0).any():
            raise ValueError("cost must hold one positive, finite number of seconds per row")
    return s


def select_batch(
    scores: np.ndarray,
    X_pool: Matrix,
    k: int,
    *,
    options: SelectorOptions | str = SelectorOptions(),
    proba: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    label_counts: np.ndarray | None = None,
    density: np.ndarray | None = None,
    random_state: int | None = None,
    geometry: Matrix | None = None,
) -> Selection:
    """Choose ``min(k, n)`` distinct pool rows, ranked (position 0 = annotate first).

    Ties are broken by a key drawn from ``random_state``. Components per pick:
    ``informativeness`` (score scaled to [0, 1]), ``representativeness``, ``balance``,
    ``cost`` (predicted seconds), ``diversity`` (distance to the nearest earlier pick,
    scaled by the batch's largest such distance; 1 for the first) and ``total``.
    ``label_counts`` (labels per class so far) feeds class balance; ``density`` (e.g.
    ``query.pool_density``, computed once per pool) saves recomputing representativeness.
    ``geometry``: rows (aligned with ``X_pool``) to measure diversity on instead of the
    features, e.g. a low-rank embedding of the pool (``_space.embed``).
    """
    opts = options_for(options)
    X = check_pool(X_pool)
    s = _check_inputs(scores, X, proba, cost)
    if k < 0:
        raise ValueError("k must be non-negative")
    k = min(k, len(s))
    rng = check_random_state(random_state)
    if density is not None and np.shape(density) != s.shape:
        raise ValueError("density must have one value per pool row")
    parts = _components(s, X, opts, proba, cost, label_counts, density, rng)
    factor = opts.shortlist_factor if opts.diversity != "none" else 1
    shortlist = top_desc(parts["total"], min(len(s), k * factor), rng)
    G = X if geometry is None else check_pool(geometry, "geometry")
    if n_rows(G) != len(s):
        raise ValueError("geometry must have one row per pool row")
    if opts.diversity == "badge":
        # Not a preset: measured in benchmarks/learning.py on a low-rank ``geometry``
        # (gradient embeddings of raw text features would have K * vocabulary columns).
        if proba is None:
            raise ValueError("badge diversity needs proba")
        picks = _badge(shortlist, np.asarray(proba, dtype=np.float64), G, k, rng)
    else:
        picks = _diverse(shortlist, parts["total"], G, k, opts.diversity, rng)
    components = {name: values[picks] for name, values in parts.items()}
    components["diversity"] = _spread(G, picks)
    return Selection(indices=picks.astype(np.int64), components=components)


def _components(
    s: np.ndarray,
    X: Matrix,
    opts: SelectorOptions,
    proba: np.ndarray | None,
    cost: np.ndarray | None,
    label_counts: np.ndarray | None,
    density: np.ndarray | None,
    rng: np.random.RandomState,
) -> dict[str, np.ndarray]:
    parts = {"informativeness": _unit(s)}
    total = parts["informativeness"].copy()
    if opts.representativeness > 0 and len(s) > 1:
        if density is None:
            density = cluster_density(embed(X, random_state=rng), random_state=rng)
        parts["representativeness"] = np.asarray(density, dtype=np.float64)
        total += opts.representativeness * parts["representativeness"]
    if opts.class_balance > 0 and proba is not None:
        parts["balance"] = balance_scores(np.asarray(proba, dtype=np.float64), label_counts)
        total += opts.class_balance * parts["balance"]
    if cost is not None:
        parts["cost"] = np.asarray(cost, dtype=np.float64)
        if opts.cost_aware:
            # A small floor keeps a zero-information item from tying every other one.
            total = (total + 1e-3) / (parts["cost"] / np.median(parts["cost"]))
    parts["total"] = total
    return parts


def _diverse(
    shortlist: np.ndarray,
    total: np.ndarray,
    X: Matrix,
    k: int,
    mode: str,
    rng: np.random.RandomState,
) -> np.ndarray:
    if mode == "none" or len(shortlist) <= k or k <= 1:
        return shortlist[:k]
    rows = X[shortlist]  # type: ignore[index]
    if mode == "cluster":
        return _best_per_cluster(shortlist, rows, k, rng)
    return _greedy_kcenter(shortlist, total[shortlist], rows, k)


def gradient_embedding(proba: np.ndarray, rows: Matrix) -> np.ndarray:
    """BADGE's hypothetical-label gradient of the log-loss w.r.t. the last layer.

    For a linear softmax model and the predicted label ``y^``, ``g = (p - e_y^) ⊗ [x, 1]``
    (Ash et al. 2020, "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower
    Bounds"): its norm is large where the model is unsure, its direction says where.
    ``rows`` should be low-dimensional (an embedding), as the product has ``K * (d+1)``
    columns.
    """
    dense = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)  # type: ignore[union-attr]
    x = np.hstack([dense, np.ones((dense.shape[0], 1))])
    residual = proba.copy()
    residual[np.arange(len(proba)), proba.argmax(axis=1)] -= 1.0
    return (residual[:, :, None] * x[:, None, :]).reshape(len(proba), -1)


def _badge(
    shortlist: np.ndarray, proba: np.ndarray, G: Matrix, k: int, rng: np.random.RandomState
) -> np.ndarray:
    """k-means++ seeding on the shortlist's gradient embeddings (BADGE's sampler)."""
    if len(shortlist) <= k:
        return shortlist[:k]
    g = gradient_embedding(proba[shortlist], G[shortlist])  # type: ignore[index]
    norms = (g**2).sum(axis=1)
    picked = [int(np.argmax(norms))]
    d2 = ((g - g[picked[0]]) ** 2).sum(axis=1)
    for _ in range(k - 1):
        total = d2.sum()
        if total <= 0:
            rest = np.setdiff1d(np.arange(len(shortlist)), picked)
            picked.extend(rest[: k - len(picked)].tolist())
            break
        nxt = int(rng.choice(len(g), p=d2 / total))
        picked.append(nxt)
        d2 = np.minimum(d2, ((g - g[nxt]) ** 2).sum(axis=1))
        d2[picked] = 0.0
    return shortlist[np.asarray(picked[:k])]


def _best_per_cluster(
    shortlist: np.ndarray, rows: Matrix, k: int, rng: np.random.RandomState
) -> np.ndarray:
    """Cluster the (already ranked) shortlist into k groups and keep each group's best."""
    n_distinct = _n_distinct(rows)
    labels = (
        KMeans(n_clusters=min(k, n_distinct), n_init=1, max_iter=100, random_state=rng)
        .fit(rows)
        .labels_
    )
    _, first = np.unique(labels, return_index=True)  # shortlist is ranked: first = best
    picked = np.sort(first)
    rest = np.setdiff1d(np.arange(len(shortlist)), picked)  # sorted: fill by rank
    return shortlist[np.concatenate([picked, rest])[:k]]


def _n_distinct(rows: Matrix) -> int:
    d = euclidean_distances(rows, rows)
    d[np.tril_indices(d.shape[0])] = np.inf
    return int(d.shape[0] - np.count_nonzero(d.min(axis=0) < 1e-9))


def _greedy_kcenter(shortlist: np.ndarray, total: np.ndarray, rows: Matrix, k: int) -> np.ndarray:
    """Greedy k-center (Sener & Savarese 2018) weighted by informativeness.

    Start with the best; then maximise ``dist(x, batch) * (1 + u(x)) / 2`` where ``u`` is
    the shortlist's informativeness scaled to [0, 1]: distance leads, and among
    equally far candidates the more informative one wins.
    """
    unit = (1.0 + _unit(total)) / 2.0
    picked = [0]
    dist = euclidean_distances(rows, rows[0:1]).ravel()  # type: ignore[index]
    for _ in range(k - 1):  # loop over the batch, vectorised over the shortlist
        gain = unit * dist
        gain[picked] = -1.0
        nxt = int(np.argmax(gain))
        picked.append(nxt)
        dist = np.minimum(dist, euclidean_distances(rows, rows[nxt : nxt + 1]).ravel())  # type: ignore[index]
    return shortlist[np.asarray(picked)]


def _spread(X: Matrix, picks: np.ndarray) -> np.ndarray:
    """Distance of each pick to its nearest earlier pick, over the batch's largest distance."""
    if len(picks) == 0:
        return np.zeros(0)
    rows = X[picks]  # type: ignore[index]
    d = euclidean_distances(rows, rows)
    d[np.triu_indices(len(picks))] = np.inf
    nearest = d.min(axis=1)
    nearest[0] = np.nan
    top = np.nanmax(nearest) if len(picks) > 1 else 0.0
    scaled = nearest / top if top > 0 else np.zeros_like(nearest)
    scaled[0] = 1.0
    return np.nan_to_num(scaled, nan=0.0)


class CostModel:
    """Predicted annotation seconds from simple item features (robust linear fit).

    ``log(seconds) ~ a + b * log1p(length)`` fitted with the Huber loss (Huber 1964) so a
    coffee break does not skew it. With fewer than ``min_samples`` recorded times it
    predicts their median (or ``default_seconds``).
    """

    def __init__(self, default_seconds: float = 10.0, min_samples: int = 5) -> None:
        self.default_seconds = default_seconds
        self.min_samples = min_samples
        self.regressor_: HuberRegressor | None = None
        self.median_: float = default_seconds

    @staticmethod
    def item_features(lengths: np.ndarray) -> np.ndarray:
        """Features from item size (text characters, or pixels/feature count for others)."""
        return np.log1p(np.asarray(lengths, dtype=np.float64).reshape(len(lengths), -1))

    def fit(self, lengths: np.ndarray, seconds: np.ndarray) -> CostModel:
        sec = np.asarray(seconds, dtype=np.float64)
        if sec.ndim != 1 or len(sec) != len(lengths) or not np.isfinite(sec).all():
            raise ValueError("seconds must be finite with one value per item")
        keep = sec > 0
        self.median_ = float(np.median(sec[keep])) if keep.any() else self.default_seconds
        self.regressor_ = None
        if keep.sum() >= self.min_samples:
            self.regressor_ = HuberRegressor().fit(
                self.item_features(np.asarray(lengths)[keep]), np.log(sec[keep])
            )
        return self

    def predict(self, lengths: np.ndarray) -> np.ndarray:
        """Predicted seconds per item, clipped to [0.5 s, 1 h]."""
        n = len(lengths)
        if self.regressor_ is None:
            return np.full(n, self.median_)
        log_sec = self.regressor_.predict(self.item_features(np.asarray(lengths)))
        return np.clip(np.exp(log_sec), 0.5, 3600.0)
