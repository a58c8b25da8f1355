"""Query strategies for sequences: one score per pool sentence, higher = ask a human.

All are vectorised over padded arrays (``crf.SequencePrediction``): no Python loop over
the pool. Definitions follow Settles & Craven (2008), "An Analysis of Active Learning
Strategies for Sequence Labeling Tasks", and Shen et al. (2017/2018) for MNLP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import xlogy

from strategies.spans.crf import SequencePrediction

TASK = "spans"


@dataclass
class SequenceContext:
    """What a sequence strategy may look at: the model's prediction over the pool and,
    for committee strategies, each member's prediction over the same pool."""

    n_pool: int
    prediction: SequencePrediction | None = None
    committee: list[SequencePrediction] | None = None
    random_state: int | None = None

    def model_view(self) -> SequencePrediction:
        """The model's prediction; refused when a model strategy was given none."""
        if self.prediction is None:
            raise ValueError("this strategy needs the model's prediction over the pool")
        return self.prediction

    def members(self) -> list[SequencePrediction]:
        """The committee's predictions; at least two are needed to disagree."""
        if not self.committee or len(self.committee) < 2:
            raise ValueError("a committee strategy needs at least two members' predictions")
        return self.committee


@dataclass(frozen=True)
class SequenceStrategyInfo:
    name: str
    description: str
    needs_committee: bool = False
    needs_model: bool = True
    fn: Callable[[SequenceContext], np.ndarray] = field(repr=False, default=lambda c: np.zeros(0))

    @property
    def task(self) -> str:
        """The task kind whose projects may pick this strategy (``strategies.tasks``)."""
        return TASK


def sequence_least_confidence_scores(path_proba: np.ndarray) -> np.ndarray:
    """``1 - P(y*|x)`` for the Viterbi path ``y*`` (Culotta & McCallum 2005)."""
    return 1.0 - np.asarray(path_proba, dtype=np.float64)


def mnlp_scores(path_proba: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Maximum normalised log-probability, negated: ``-(1/n) log P(y*|x)`` (Shen et al.
    2018, eq. 2). Plain least confidence favours long sentences, whose path probability
    is small simply because it is a product over more tokens; dividing by ``n`` removes
    that bias. Empty sentences score 0."""
    p = np.clip(np.asarray(path_proba, dtype=np.float64), np.finfo(np.float64).tiny, 1.0)
    n = np.asarray(lengths, dtype=np.float64)
    return np.divide(-np.log(p), n, out=np.zeros_like(p), where=n > 0)


def token_entropies(marginals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``H_t = -sum_k P(y_t=k|x) log P(y_t=k|x)`` per token, 0 on padding; ``(n, T)``."""
    return np.where(mask, -xlogy(marginals, marginals).sum(axis=2), 0.0)


def token_entropy_sum_scores(marginals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Total token entropy ``sum_t H_t`` (Settles & Craven 2008, "TTE")."""
    return token_entropies(marginals, mask).sum(axis=1)


def token_entropy_mean_scores(marginals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Token entropy averaged over the sentence, ``(1/T) sum_t H_t`` (Settles & Craven
    2008, "TE"): the length-normalised form."""
    lengths = mask.sum(axis=1).astype(np.float64)
    total = token_entropy_sum_scores(marginals, mask)
    return np.divide(total, lengths, out=np.zeros_like(total), where=lengths > 0)


def path_indices(prediction: SequencePrediction) -> np.ndarray:
    """The Viterbi paths as tag columns, ``(n, T)``, ``-1`` on padding."""
    column = {tag: k for k, tag in enumerate(prediction.tags)}
    out = np.full(prediction.mask.shape, -1, dtype=np.int64)
    flat = [column[t] for path in prediction.paths for t in path]
    out[prediction.mask] = np.asarray(flat, dtype=np.int64)
    return out


def sequence_vote_entropy_scores(votes: np.ndarray, n_tags: int) -> np.ndarray:
    """Token-averaged vote entropy of ``C`` members' Viterbi paths (Settles & Craven
    2008, "VE"): ``-(1/T) sum_t sum_k (V(t,k)/C) log (V(t,k)/C)``.

    ``votes`` has shape ``(C, n, T)``: tag columns, ``-1`` on padding (same in every
    member).
    """
    C = votes.shape[0]
    mask = votes[0] >= 0
    counts = np.zeros((*mask.shape, n_tags))
    for member in votes:  # loop over the committee, not the pool
        counts += np.eye(n_tags)[np.where(member >= 0, member, 0)] * (member >= 0)[..., None]
    share = counts / C
    per_token = np.where(mask, -xlogy(share, share).sum(axis=2), 0.0)
    lengths = mask.sum(axis=1).astype(np.float64)
    total = per_token.sum(axis=1)
    return np.divide(total, lengths, out=np.zeros_like(total), where=lengths > 0)


def _random(ctx: SequenceContext) -> np.ndarray:
    return np.random.default_rng(ctx.random_state).random(ctx.n_pool)


def _vote_entropy(ctx: SequenceContext) -> np.ndarray:
    members = ctx.members()
    votes = np.stack([path_indices(m) for m in members])
    return sequence_vote_entropy_scores(votes, len(members[0].tags))


def _info(
    name: str, description: str, fn: Callable[[SequenceContext], np.ndarray], **flags: bool
) -> tuple[str, SequenceStrategyInfo]:
    return name, SequenceStrategyInfo(name=name, description=description, fn=fn, **flags)


SEQUENCE_STRATEGIES: dict[str, SequenceStrategyInfo] = dict(
    [
        _info("random", "Uniform random order (the baseline).", _random, needs_model=False),
        _info(
            "sequence_least_confidence",
            "1 - probability of the model's most likely tagging of the sentence.",
            lambda c: sequence_least_confidence_scores(c.model_view().path_proba),
        ),
        _info(
            "mnlp",
            "Least confidence normalised by sentence length (MNLP).",
            lambda c: mnlp_scores(c.model_view().path_proba, c.model_view().lengths),
        ),
        _info(
            "token_entropy_sum",
            "Sum of the tokens' tag entropies.",
            lambda c: token_entropy_sum_scores(c.model_view().marginals, c.model_view().mask),
        ),
        _info(
            "token_entropy_mean",
            "Mean of the tokens' tag entropies.",
            lambda c: token_entropy_mean_scores(c.model_view().marginals, c.model_view().mask),
        ),
        _info(
            "sequence_vote_entropy",
            "Disagreement of a bagged committee of CRFs, token by token (vote entropy).",
            _vote_entropy,
            needs_committee=True,
        ),
    ]
)


def _check(ctx: SequenceContext, info: SequenceStrategyInfo) -> None:
    wanted = [ctx.prediction] if info.needs_model and not info.needs_committee else []
    wanted += list(ctx.committee or []) if info.needs_committee else []
    views = [v for v in wanted if v is not None]
    for view in views:
        if len(view.paths) != ctx.n_pool:
            raise ValueError(f"a prediction covers {len(view.paths)} sentences, not {ctx.n_pool}")
    if info.needs_committee and len({v.mask.shape for v in views}) > 1:
        raise ValueError("the committee's predictions must cover the same pool")


def score_sequences(name: str, ctx: SequenceContext) -> np.ndarray:
    """Score every pool sentence with sequence strategy ``name``; float64, no NaN."""
    if name not in SEQUENCE_STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(SEQUENCE_STRATEGIES)}")
    info = SEQUENCE_STRATEGIES[name]
    _check(ctx, info)
    scores = np.asarray(info.fn(ctx), dtype=np.float64)
    return np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)
