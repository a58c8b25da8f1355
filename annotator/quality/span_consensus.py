"""Consensus of a span project's annotations: a vote per token over the annotators' BIO
tags (`strategies.spans.agreement.token_vote`), read back into spans.

An item is decided when no token is tied and every token's winning tag has at least the
project's `consensus_threshold` share of the votes; otherwise it goes to review. The
support is the weakest token's share. Votes are equal under `majority` and weighted by
confidence under `weighted`; Dawid-Skene has no span model, so it counts as `majority`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from projects.settings_types import Consensus
from strategies.spans.agreement import token_vote
from strategies.spans.tokens import Span, spans_to_tags, tags_to_spans, tokenize


@dataclass(frozen=True)
class SpanVote:
    """The voted spans (None: no consensus) and the weakest token's vote share."""

    spans: list[dict[str, Any]] | None
    support: float
    method: str


def span_vote(
    text: str,
    answers: Sequence[tuple[Sequence[dict[str, Any]], int]],
    *,
    method: str,
    threshold: float,
) -> SpanVote:
    """Vote on one item's annotations, given as `(spans, confidence)` pairs."""
    method = Consensus.WEIGHTED if method == Consensus.WEIGHTED else Consensus.MAJORITY
    tokens = tokenize(text)
    tags = [
        spans_to_tags(tokens, [Span(s["start"], s["end"], s["label"]) for s in spans], len(text))
        for spans, _ in answers
    ]
    weights = np.array(
        [float(c) if method == Consensus.WEIGHTED else 1.0 for _, c in answers], dtype=np.float64
    )
    support = _weakest_share(tags, weights)
    voted = token_vote(tags, weights.tolist()) if answers else None
    if voted is None or support < threshold:
        return SpanVote(None, support, method)
    return SpanVote([s.as_dict() for s in tags_to_spans(tokens, voted)], support, method)


def _weakest_share(tags: list[list[str]], weights: np.ndarray) -> float:
    """The smallest, over tokens, share of the votes its most voted tag has (1 without
    tokens or votes)."""
    if not tags or not tags[0] or weights.sum() <= 0:
        return 1.0
    grid = np.array(tags)  # (annotators, tokens)
    names, codes = np.unique(grid, return_inverse=True)
    n_annotators, n_tokens = grid.shape
    tally = np.zeros((n_tokens, len(names)))
    np.add.at(
        tally,
        (np.tile(np.arange(n_tokens), n_annotators), codes.ravel()),
        np.repeat(weights, n_tokens),
    )
    return float(tally.max(axis=1).min() / weights.sum())
