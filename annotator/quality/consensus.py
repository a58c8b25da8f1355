"""Consensus labels from several annotators: plain, vectorised numpy.

Inputs are the aligned arrays of :mod:`annotator.quality.agreement` (``items``,
``annotators``, ``labels`` coded ``0..n-1``, the last row per (item, annotator)
counting) plus ``n_labels`` and ``n_items``. Every method returns a
:class:`ConsensusResult` with one label per item code, ``-1`` meaning "no
consensus" (the item goes to the review queue). All methods share one call
shape, ``method(items, annotators, labels, n_labels, n_items, confidence)``,
so :data:`CONSENSUS_METHODS` can be used interchangeably. No Django.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse
from scipy.special import logsumexp

from annotator.quality.agreement import Annotations, FloatArray, IntArray, annotations_with_rows
from projects.settings_types import CONSENSUS_DESCRIPTIONS, CONSENSUS_NAMES, Consensus

NO_CONSENSUS = -1
# Confidence is entered on a 1..5 scale; a vote weighs confidence / 5 (1 -> 0.2, 5 -> 1.0).
CONFIDENCE_SCALE = 5.0
# Relative tolerance under which two float vote totals count as a tie.
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ConsensusResult:
    """Per-item consensus: ``label`` (``-1`` = none) and ``support`` in ``[0, 1]``.

    ``support`` is the winning label's share of the (weighted) votes, or its posterior
    under Dawid-Skene; it is reported even where the label is ``-1``. Dawid-Skene also
    fills ``confusion[annotator, true, given]`` and the class ``priors``.
    """

    label: IntArray
    support: FloatArray
    confusion: FloatArray | None = None
    priors: FloatArray | None = None


def majority_vote(
    items: ArrayLike,
    annotators: ArrayLike,
    labels: ArrayLike,
    n_labels: int,
    n_items: int,
    confidence: ArrayLike | None = None,
    *,
    min_support: float = 0.5,
    min_votes: int = 1,
) -> ConsensusResult:
    """Plurality vote: the most frequent label, if its share of votes is ``>= min_support``.

    Ties for first place, items with fewer than ``min_votes`` annotations and items
    with no annotation get ``-1``; a single annotation wins with support 1.0.
    ``confidence`` is ignored (accepted so all methods share one signature).
    """
    ann = _checked(items, annotators, labels, n_labels, n_items)
    votes = _vote_table(ann, n_items, np.ones(len(ann.items)))
    return _decide(votes, min_support=min_support, min_votes=min_votes)


def confidence_weighted_vote(
    items: ArrayLike,
    annotators: ArrayLike,
    labels: ArrayLike,
    n_labels: int,
    n_items: int,
    confidence: ArrayLike,
    *,
    min_support: float = 0.5,
    min_votes: int = 1,
) -> ConsensusResult:
    """Vote weighted by the annotator's confidence: ``w = confidence / 5`` (1..5 -> 0.2..1).

    ``support`` is the winner's share of the total weight ``sum w_win / sum w``, so
    the scale cancels out and only relative confidence matters. Ties (within 1e-9 of
    the total), support below ``min_support`` and fewer than ``min_votes`` annotations
    give ``-1``, as in :func:`majority_vote`.
    """
    weights = np.asarray(confidence, dtype=np.float64).ravel()
    if len(weights) != len(np.asarray(items).ravel()):
        raise ValueError("confidence must be aligned with items")
    if len(weights) and (not np.isfinite(weights).all() or weights.min() <= 0):
        raise ValueError("confidence must be positive")
    ann, kept = _checked_with_rows(items, annotators, labels, n_labels, n_items)
    votes = _vote_table(ann, n_items, weights[kept] / CONFIDENCE_SCALE)
    counts = _vote_table(ann, n_items, np.ones(len(ann.items)))
    return _decide(votes, min_support=min_support, min_votes=min_votes, n_votes=counts.sum(axis=1))


def dawid_skene(
    items: ArrayLike,
    annotators: ArrayLike,
    labels: ArrayLike,
    n_labels: int,
    n_items: int,
    confidence: ArrayLike | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    min_posterior: float = 0.5,
    smoothing: float = 0.01,
) -> ConsensusResult:
    """Dawid & Skene (1979) EM over one confusion matrix per annotator.

    E-step: ``T_ik ∝ p_k * prod_{(i, a, l)} pi_a[k, l]``; M-step:
    ``p_k ∝ sum_i T_ik`` and ``pi_a[k, l] ∝ smoothing + sum_{(i, a, l)} T_ik``. Starts
    from the majority-vote shares ``T_ik = n_ik / m_i`` (so it is deterministic) and
    stops when no posterior moves more than ``tol``. The label is ``argmax_k T_ik``
    where that posterior is ``>= min_posterior`` and unique, else ``-1``; items with
    no annotation get ``-1``. ``confidence`` is ignored.
    """
    ann = _checked(items, annotators, labels, n_labels, n_items)
    n_coders = int(ann.annotators.max()) + 1 if len(ann.items) else 0
    counts = _vote_table(ann, n_items, np.ones(len(ann.items)))
    voted = counts.sum(axis=1) > 0
    posterior = counts[voted] / counts[voted].sum(axis=1, keepdims=True)
    row = np.cumsum(voted)[ann.items] - 1  # each annotation's row among voted items
    by_item = sparse.csr_matrix(
        (np.ones(len(row)), (row, np.arange(len(row)))), shape=(len(posterior), len(row))
    )
    coder_label = ann.annotators * n_labels + ann.labels
    by_coder_label = sparse.csr_matrix(
        (np.ones(len(row)), (coder_label, np.arange(len(row)))),
        shape=(n_coders * n_labels, len(row)),
    )
    priors, confusion = _m_step(posterior, row, by_coder_label, n_coders, n_labels, smoothing)
    for _ in range(max_iter):
        log_conf = np.log(confusion)[ann.annotators, :, ann.labels]  # (annotations, true)
        log_joint = np.log(priors) + np.asarray(by_item @ log_conf)
        updated = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        shift = np.abs(updated - posterior).max(initial=0.0)
        posterior = updated
        priors, confusion = _m_step(posterior, row, by_coder_label, n_coders, n_labels, smoothing)
        if shift < tol:
            break
    full = np.zeros((n_items, n_labels))
    full[voted] = posterior
    decided = _decide(full, min_support=min_posterior, min_votes=1, n_votes=voted.astype(float))
    return ConsensusResult(decided.label, decided.support, confusion, priors)


def _m_step(
    posterior: FloatArray,
    row: IntArray,
    by_coder_label: sparse.csr_matrix,
    n_coders: int,
    n_labels: int,
    smoothing: float,
) -> tuple[FloatArray, FloatArray]:
    """Class priors and row-normalised ``confusion[annotator, true, given]`` from ``T``."""
    priors = posterior.sum(axis=0) + smoothing
    priors /= priors.sum()
    mass = np.asarray(by_coder_label @ posterior[row])  # (annotator * given, true)
    confusion = mass.reshape(n_coders, n_labels, n_labels).transpose(0, 2, 1) + smoothing
    confusion /= confusion.sum(axis=2, keepdims=True)
    return priors, confusion


def _checked(
    items: ArrayLike, annotators: ArrayLike, labels: ArrayLike, n_labels: int, n_items: int
) -> Annotations:
    return _checked_with_rows(items, annotators, labels, n_labels, n_items)[0]


def _checked_with_rows(
    items: ArrayLike, annotators: ArrayLike, labels: ArrayLike, n_labels: int, n_items: int
) -> tuple[Annotations, IntArray]:
    """Validated, deduplicated annotations and the input rows they were kept from."""
    ann, kept = annotations_with_rows(items, annotators, labels, n_labels)
    if len(ann.items) and ann.items.max() >= n_items:
        raise ValueError("item codes must be below n_items")
    return ann, kept


def _vote_table(ann: Annotations, n_items: int, weights: FloatArray) -> FloatArray:
    """``V[i, c]`` = total weight of the votes for label ``c`` on item ``i``."""
    flat = np.bincount(
        ann.items * ann.n_labels + ann.labels, weights=weights, minlength=n_items * ann.n_labels
    )
    return np.asarray(flat, dtype=np.float64).reshape(n_items, ann.n_labels)


def _decide(
    votes: FloatArray,
    *,
    min_support: float,
    min_votes: int,
    n_votes: FloatArray | None = None,
) -> ConsensusResult:
    """Winner of each row of ``votes`` unless tied, under-supported or under-voted."""
    total = votes.sum(axis=1)
    n_votes = total if n_votes is None else n_votes
    if votes.shape[1] == 0:
        return ConsensusResult(np.full(len(votes), NO_CONSENSUS), np.zeros(len(votes)))
    ordered = np.sort(votes, axis=1)
    best = ordered[:, -1]
    runner_up = ordered[:, -2] if votes.shape[1] > 1 else np.zeros(len(votes))
    support = np.divide(best, total, out=np.zeros_like(best), where=total > 0)
    tied = best - runner_up <= TIE_TOLERANCE * total
    accepted = (total > 0) & ~tied & (support >= min_support) & (n_votes >= min_votes)
    label = np.where(accepted, votes.argmax(axis=1), NO_CONSENSUS).astype(np.int64)
    return ConsensusResult(label, support)


ConsensusMethod = Callable[..., ConsensusResult]


def per_label_consensus(
    method: ConsensusMethod,
    items: ArrayLike,
    annotators: ArrayLike,
    sets: ArrayLike,
    n_items: int,
    confidence: ArrayLike | None = None,
    **cutoff: float,
) -> ConsensusResult:
    """Multi-label consensus: ``method`` run on each label as a yes/no question.

    Binary relevance, as the one-vs-rest model: annotation ``a`` says label ``j``
    applies when ``sets[a, j] == 1``. Returns ``label`` and ``support`` of shape
    ``(n_items, L)``: 1/0 where the label is decided present/absent, ``NO_CONSENSUS``
    where that label's vote is tied or under-supported (the item then goes to review).
    """
    indicators = np.asarray(sets, dtype=np.int64)
    if indicators.ndim != 2 or not np.isin(indicators, (0, 1)).all():
        raise ValueError("sets must be a 2-d 0/1 indicator matrix, one row per annotation")
    results = [
        method(items, annotators, indicators[:, j], 2, n_items, confidence, **cutoff)
        for j in range(indicators.shape[1])
    ]
    if not results:
        empty = np.zeros((n_items, 0))
        return ConsensusResult(empty.astype(np.int64), empty)
    return ConsensusResult(
        np.column_stack([r.label for r in results]).astype(np.int64),
        np.column_stack([r.support for r in results]),
    )


# One function per name of `projects.settings_schema.Consensus` (where the settings
# list them); the descriptions are the schema's too.
_FUNCTIONS: dict[str, ConsensusMethod] = {
    Consensus.MAJORITY: majority_vote,
    Consensus.WEIGHTED: confidence_weighted_vote,
    Consensus.DAWID_SKENE: dawid_skene,
}
CONSENSUS_METHODS: dict[str, tuple[ConsensusMethod, str]] = {
    name: (_FUNCTIONS[name], CONSENSUS_DESCRIPTIONS[name]) for name in CONSENSUS_NAMES
}
