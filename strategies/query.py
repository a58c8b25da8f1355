"""Query strategies: one informativeness score per pool row, higher = ask a human.

Every strategy is a vectorised function of a ``QueryContext``; see Settles (2009),
"Active Learning Literature Survey", for the definitions followed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import xlogy

from strategies._space import (
    Matrix,
    check_pool,
    density_fit,
    density_sample,
    n_rows,
    scaled_density,
)
from strategies._space import row_norms as l2_norms
from strategies.committee import train_committee, train_mixed_committee
from strategies.models import Model, MultilabelModel, check_labels
from strategies.multilabel_query import adaptive_scores, cvirs_scores, mmc_scores

# What committee strategies build when not given one: "bagging" (bootstrap copies of
# our model, Abe & Mamitsuka 1998) or "mixed" (different model families).
COMMITTEE = "bagging"


@dataclass
class QueryContext:
    """Everything a strategy may look at. ``proba`` and ``committee`` are filled lazily.

    For multi-label strategies ``proba`` holds per-label positive probabilities
    ``P(label_j = 1)`` and ``y_labeled`` is a 0/1 indicator matrix.

    ``X_pool`` may be None when ``proba`` is given and the strategy does not read the
    features (``StrategyInfo.reads_features``): a caller with a huge pool then never
    holds its rows in one matrix. ``row_norms``: the pool rows' L2 norms, all a
    ``reads_norms`` strategy needs of the features (a chunked rescore computes them
    with the probabilities); else computed from ``X_pool``.
    """

    X_pool: Matrix | None
    model: Model | None = None
    proba: np.ndarray | None = None
    X_labeled: Matrix | None = None
    y_labeled: np.ndarray | None = None
    n_classes: int | None = None
    committee: list[Model] | None = None
    committee_size: int = 5
    random_state: int | None = None
    beta: float = 1.0
    density_base: str = "entropy"
    density: np.ndarray | None = None
    row_norms: np.ndarray | None = None

    def pool_proba(self) -> np.ndarray:
        if self.proba is None:
            if self.model is None:
                raise ValueError("this strategy needs a model or precomputed proba")
            self.proba = np.asarray(self.model.predict_proba(self.pool_rows()), dtype=np.float64)
        return self.proba

    def pool_rows(self) -> Matrix:
        if self.X_pool is None:
            raise ValueError("this strategy reads the pool's features: give X_pool")
        return self.X_pool

    def pool_row_norms(self) -> np.ndarray:
        if self.row_norms is None:
            self.row_norms = l2_norms(self.pool_rows())
        return self.row_norms

    def pool_size(self) -> int:
        return n_rows(self.X_pool) if self.X_pool is not None else len(self.pool_proba())

    def members(self) -> list[Model]:
        if self.committee is None:
            if self.X_labeled is None or self.y_labeled is None or self.n_classes is None:
                raise ValueError("a committee strategy needs committee or X/y_labeled+n_classes")
            if COMMITTEE == "mixed":
                self.committee = list(
                    train_mixed_committee(
                        self.X_labeled,
                        self.y_labeled,
                        self.n_classes,
                        random_state=self.random_state,
                    )
                )
                return self.committee
            self.committee = list(
                train_committee(
                    self.X_labeled,
                    self.y_labeled,
                    self.n_classes,
                    size=self.committee_size,
                    random_state=self.random_state,
                )
            )
        return self.committee


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    description: str
    needs_committee: bool = False
    multilabel: bool = False
    needs_model: bool = True
    reads_features: bool = False  # besides the probabilities: X_pool is required
    reads_norms: bool = False  # the rows' L2 norms: X_pool or QueryContext.row_norms
    reads_density: bool = False  # the pool's density: X_pool or QueryContext.density
    # A row's score depends on that row alone (given the model and the committee), so a
    # pool may be scored in chunks, each on its own (a committee where the rows are).
    row_local: bool = False
    fn: Callable[[QueryContext], np.ndarray] = field(repr=False, default=lambda ctx: np.zeros(0))

    @property
    def task(self) -> str:
        """The task kind whose projects may pick this strategy (``strategies.tasks``)."""
        return "multilabel" if self.multilabel else "single"


def least_confidence_scores(proba: np.ndarray) -> np.ndarray:
    """``1 - max_y P(y|x)`` (Lewis & Gale 1994; Culotta & McCallum 2005)."""
    return 1.0 - proba.max(axis=1)


def margin_scores(proba: np.ndarray) -> np.ndarray:
    """``1 - (P(y1|x) - P(y2|x))`` for the two most probable classes (Scheffer et al. 2001)."""
    if proba.shape[1] < 2:
        return np.zeros(proba.shape[0])
    top2 = np.partition(proba, proba.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy_scores(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy ``-sum_y P(y|x) log P(y|x)`` in nats (Shannon 1948; Settles 2009 §3.1)."""
    return -xlogy(proba, proba).sum(axis=1)


def vote_entropy_scores(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Vote entropy ``-sum_y (V(y)/C) log (V(y)/C)`` over ``C`` members' hard votes.

    ``votes`` has shape ``(C, n)`` (Dagan & Engelson 1995).
    """
    C, n = votes.shape
    counts = np.zeros((n, n_classes))
    rows = np.arange(n)
    for member_votes in votes:  # loop over the committee, not the pool
        counts[rows, member_votes] += 1.0
    share = counts / C
    return -xlogy(share, share).sum(axis=1)


def kl_consensus_scores(member_proba: np.ndarray) -> np.ndarray:
    """Mean KL divergence to the consensus, ``(1/C) sum_c KL(P_c || P_mean)``.

    McCallum & Nigam (1998). ``member_proba`` has shape ``(C, n, K)``.
    """
    consensus = member_proba.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(member_proba > 0, member_proba / consensus, 1.0)
    return xlogy(member_proba, ratio).sum(axis=2).mean(axis=0)


def expected_gradient_length_scores(proba: np.ndarray, X: Matrix) -> np.ndarray:
    """Expected gradient length for multinomial logistic regression (Settles et al. 2008).

    The log-loss gradient of a labelled ``(x, y)`` w.r.t. the weights is
    ``(p - e_y) ⊗ [x, 1]`` (bias included), so
    ``E_y ||grad|| = sum_y p_y ||p - e_y|| sqrt(||x||^2 + 1)`` with
    ``||p - e_y||^2 = ||p||^2 - 2 p_y + 1``.
    """
    return expected_gradient_length_norms(proba, l2_norms(X))


def expected_gradient_length_norms(proba: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """``expected_gradient_length_scores`` given the rows' L2 norms ``||x||``: all it
    reads of the features, so a chunked rescore need not hold the pool's rows."""
    sq = (proba**2).sum(axis=1, keepdims=True) - 2.0 * proba + 1.0
    expected = (proba * np.sqrt(np.clip(sq, 0.0, None))).sum(axis=1)
    return expected * np.sqrt(np.asarray(norms, dtype=np.float64) ** 2 + 1.0)


def multilabel_least_confidence_scores(proba: np.ndarray) -> np.ndarray:
    """Mean per-label least confidence ``(1/L) sum_j (1 - max(p_j, 1 - p_j))``.

    Binary relevance uncertainty (Esuli & Sebastiani 2009, "MAX/AVG" family: AVG here).
    """
    return (1.0 - np.maximum(proba, 1.0 - proba)).mean(axis=1)


def multilabel_margin_scores(proba: np.ndarray) -> np.ndarray:
    """``1 - min_j |2 p_j - 1|``: the smallest per-label margin (Brinker 2006, MML-style)."""
    return 1.0 - np.abs(2.0 * proba - 1.0).min(axis=1)


def multilabel_entropy_scores(proba: np.ndarray) -> np.ndarray:
    """Sum of per-label binary entropies ``-sum_j [p_j log p_j + (1-p_j) log(1-p_j)]``."""
    return -(xlogy(proba, proba) + xlogy(1.0 - proba, 1.0 - proba)).sum(axis=1)


def _random(ctx: QueryContext) -> np.ndarray:
    return np.random.default_rng(ctx.random_state).random(ctx.pool_size())


def _committee_proba(ctx: QueryContext) -> np.ndarray:
    return np.stack(
        [np.asarray(m.predict_proba(ctx.pool_rows()), dtype=np.float64) for m in ctx.members()]
    )


def _vote_entropy(ctx: QueryContext) -> np.ndarray:
    member_proba = _committee_proba(ctx)
    return vote_entropy_scores(member_proba.argmax(axis=2), member_proba.shape[2])


def _density_weighted(ctx: QueryContext) -> np.ndarray:
    if ctx.density_base not in BASE_UNCERTAINTY:
        raise ValueError(f"density_base must be one of {sorted(BASE_UNCERTAINTY)}")
    base = BASE_UNCERTAINTY[ctx.density_base](ctx.pool_proba())
    if ctx.density is None:
        ctx.density = pool_density(ctx.pool_rows(), random_state=ctx.random_state)
    return density_weighted_scores(base, ctx.density, ctx.beta)


def pool_density(X_pool: Matrix, *, random_state: int | None = None) -> np.ndarray:
    """Similarity of every pool row to the pool, in [0, 1] (see ``_space.cluster_density``).

    Depends only on the features, so a caller may compute it once per pool and pass it
    as ``QueryContext.density`` (rows aligned with ``X_pool``). Fitted on a sample of
    the rows (``density_sample``, ``density_fit``), then every row measured: a caller
    with a huge pool does the same a chunk of rows at a time (``Density.raw``) and
    scales the whole (``scaled_density``), with the same result.
    """
    X = check_pool(X_pool)
    sample = density_sample(n_rows(X), random_state)
    fitted = density_fit(X[sample], random_state=random_state)  # type: ignore[index]
    return scaled_density(fitted.raw(X))


def density_weighted_scores(
    uncertainty: np.ndarray, density: np.ndarray, beta: float
) -> np.ndarray:
    """Information density ``phi(x) * (sim(x, pool))^beta`` (Settles & Craven 2008, eq. 1)."""
    return uncertainty * np.power(np.clip(density, 0.0, None), beta)


BASE_UNCERTAINTY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "least_confidence": least_confidence_scores,
    "margin": margin_scores,
    "entropy": entropy_scores,
}


def _labelled_sets(ctx: QueryContext) -> tuple[np.ndarray, np.ndarray]:
    """Distinct labelled sets and their counts: the model's (``MultilabelModel``), else
    from ``y_labeled`` when it is a 0/1 indicator matrix."""
    if isinstance(ctx.model, MultilabelModel):
        return ctx.model.label_sets_, ctx.model.label_set_counts_
    Y = None if ctx.y_labeled is None else np.asarray(ctx.y_labeled)
    if Y is None or Y.ndim != 2:
        raise ValueError("this strategy needs a MultilabelModel or y_labeled as 0/1 sets")
    sets, counts = np.unique(Y.astype(np.int64), axis=0, return_counts=True)
    return sets, counts


def _label_rate(ctx: QueryContext) -> float:
    """Mean number of labels per labelled item."""
    if isinstance(ctx.model, MultilabelModel):
        return ctx.model.label_rate_
    sets, counts = _labelled_sets(ctx)
    return float(sets.sum(axis=1) @ counts / max(int(counts.sum()), 1))


def _info(
    name: str, description: str, fn: Callable[[QueryContext], np.ndarray], **flags: bool
) -> tuple[str, StrategyInfo]:
    return name, StrategyInfo(name=name, description=description, fn=fn, **flags)


STRATEGIES: dict[str, StrategyInfo] = dict(
    [
        _info("random", "Uniform random order (the baseline).", _random, needs_model=False),
        _info(
            "least_confidence",
            "1 - probability of the predicted class.",
            lambda c: least_confidence_scores(c.pool_proba()),
            row_local=True,
        ),
        _info(
            "margin",
            "1 - gap between the two most probable classes.",
            lambda c: margin_scores(c.pool_proba()),
            row_local=True,
        ),
        _info(
            "entropy",
            "Entropy of the predicted class distribution.",
            lambda c: entropy_scores(c.pool_proba()),
            row_local=True,
        ),
        _info(
            "vote_entropy",
            "Disagreement of a bagged committee's votes (vote entropy).",
            _vote_entropy,
            needs_committee=True,
            reads_features=True,
            row_local=True,
        ),
        _info(
            "kl_consensus",
            "Mean KL divergence of committee members from their consensus.",
            lambda c: kl_consensus_scores(_committee_proba(c)),
            needs_committee=True,
            reads_features=True,
            row_local=True,
        ),
        _info(
            "expected_gradient_length",
            "Expected norm of the training gradient (closed form).",
            lambda c: expected_gradient_length_norms(c.pool_proba(), c.pool_row_norms()),
            reads_norms=True,
            row_local=True,
        ),
        _info(
            "density_weighted",
            "Uncertainty times similarity to the pool, raised to beta.",
            _density_weighted,
            reads_density=True,
        ),
        _info(
            "multilabel_least_confidence",
            "Mean per-label uncertainty (multi-label projects).",
            lambda c: multilabel_least_confidence_scores(c.pool_proba()),
            multilabel=True,
            row_local=True,
        ),
        _info(
            "multilabel_margin",
            "Smallest per-label margin (multi-label projects).",
            lambda c: multilabel_margin_scores(c.pool_proba()),
            multilabel=True,
            row_local=True,
        ),
        _info(
            "multilabel_entropy",
            "Sum of per-label binary entropies (multi-label projects).",
            lambda c: multilabel_entropy_scores(c.pool_proba()),
            multilabel=True,
            row_local=True,
        ),
        _info(
            "multilabel_mmc",
            "Expected loss reduction with the most confident predicted set (MMC).",
            lambda c: mmc_scores(c.pool_proba()),
            multilabel=True,
            row_local=True,
        ),
        _info(
            "multilabel_adaptive",
            "Max-margin uncertainty times label-count inconsistency (Li & Guo 2013).",
            lambda c: adaptive_scores(c.pool_proba(), _label_rate(c)),
            multilabel=True,
            row_local=True,
        ),
        _info(
            "multilabel_cvirs",
            "Per-label margin ranks times distance of the predicted set to the labelled sets.",
            lambda c: cvirs_scores(c.pool_proba(), *_labelled_sets(c)),
            multilabel=True,
        ),
    ]
)


# Strategies that assume our own logistic regression: a bagged committee of it, or the
# closed-form gradient of its loss. With another estimator they are refused.
LINEAR_ONLY: tuple[str, ...] = (
    *(name for name, info in STRATEGIES.items() if info.needs_committee),
    "expected_gradient_length",
)


def _validate(ctx: QueryContext, info: StrategyInfo) -> None:
    if ctx.X_pool is None:
        if info.reads_features or ctx.proba is None:
            raise ValueError(f"strategy {info.name!r} needs X_pool (or proba, if it reads none)")
        if info.reads_norms and ctx.row_norms is None:
            raise ValueError(f"strategy {info.name!r} needs X_pool or row_norms")
        if info.reads_density and ctx.density is None:
            raise ValueError(f"strategy {info.name!r} needs X_pool or density")
        n = len(ctx.proba)
    else:
        ctx.X_pool = check_pool(ctx.X_pool)
        n = n_rows(ctx.X_pool)
    if ctx.proba is not None:
        proba = np.asarray(ctx.proba, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[0] != n:
            raise ValueError(f"proba must have shape ({n}, n_classes), got {proba.shape}")
        if not np.isfinite(proba).all() or proba.min() < 0 or proba.max() > 1:
            raise ValueError("proba must hold probabilities in [0, 1]")
        ctx.proba = proba
    if ctx.density is not None and np.shape(ctx.density) != (n,):
        raise ValueError(f"density must have one value per pool row ({n})")
    if ctx.row_norms is not None and np.shape(ctx.row_norms) != (n,):
        raise ValueError(f"row_norms must have one value per pool row ({n})")
    if ctx.beta < 0 or not np.isfinite(ctx.beta):
        raise ValueError("beta must be a non-negative number")
    if info.needs_committee and ctx.committee is None and ctx.X_labeled is not None:
        ctx.X_labeled = check_pool(ctx.X_labeled, "X_labeled")
        if ctx.n_classes is None:
            raise ValueError("n_classes is needed to build a committee")
        ctx.y_labeled = check_labels(ctx.y_labeled, ctx.n_classes, n_rows(ctx.X_labeled))


def score(name: str, ctx: QueryContext) -> np.ndarray:
    """Score every pool row with strategy ``name``; higher means more worth a label.

    Returns a float64 array of length ``n_pool`` with no NaN. Ties are left as ties:
    ``select_batch`` breaks them with its seeded key.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    info = STRATEGIES[name]
    _validate(ctx, info)
    scores = np.asarray(info.fn(ctx), dtype=np.float64)
    return np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)
