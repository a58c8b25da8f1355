"""Agreement between annotators' spans, and consensus by token-level vote.

* Pairwise span F1 (Hripcsak & Rothschild 2005: F1 between two annotators equals
  positive specific agreement and needs no chance model): ``exact`` (label and both
  boundaries equal), and, via nervaluate (Segura-Bedmar et al. 2013, SemEval-2013
  task 9), ``partial`` (boundaries overlap, label ignored, half credit) and ``overlap``
  (same label, boundaries overlap).
* Token-level Krippendorff's alpha: every token of an item with two or more annotations
  is a unit whose value is the entity label it falls in (``O`` outside). ``token_units``
  builds the unit arrays; the alpha itself is the nominal one the platform already
  computes for classification (one home), which these arrays feed unchanged.
* Consensus: per token, the weighted vote over the annotators' BIO tags; a tie on any
  token means no consensus (the item goes to review).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from nervaluate import Evaluator

from strategies.spans.tokens import OUTSIDE, Span, spans_to_tags, split_tag, tags_to_spans, tokenize

SpanSets = Sequence[Sequence[Span]]
# item -> annotator -> spans: what the platform stores for a span project.
ItemSpans = Mapping[Any, Mapping[Any, Sequence[Span]]]


def exact_span_f1(a: SpanSets, b: SpanSets) -> float | None:
    """``2 |A ∩ B| / (|A| + |B|)`` over (item, start, end, label); None without spans."""
    if len(a) != len(b):
        raise ValueError("both annotators' span lists must cover the same items")
    set_a = {(i, s.start, s.end, s.label) for i, spans in enumerate(a) for s in spans}
    set_b = {(i, s.start, s.end, s.label) for i, spans in enumerate(b) for s in spans}
    total = len(set_a) + len(set_b)
    return 2 * len(set_a & set_b) / total if total else None


def _entities(docs: SpanSets) -> list[list[dict[str, Any]]]:
    # nervaluate's spans are inclusive at the end
    return [[{"label": s.label, "start": s.start, "end": s.end - 1} for s in d] for d in docs]


def span_f1(a: SpanSets, b: SpanSets) -> dict[str, float | None]:
    """Exact, partial and overlap F1 of annotator ``b`` against ``a`` on aligned items."""
    exact = exact_span_f1(a, b)
    labels = sorted({s.label for d in (*a, *b) for s in d})
    if exact is None:
        return {"exact": None, "partial": None, "overlap": None}
    # nervaluate's loader cannot read a first item without spans: pad every item with a
    # span of a label outside ``labels`` (filtered out before any count).
    pad = [{"label": "\x00pad", "start": -2, "end": -2}]
    true = [pad + d for d in _entities(a)]
    pred = [pad + d for d in _entities(b)]
    overall = Evaluator(true, pred, tags=labels, loader="dict").evaluate()["overall"]
    return {
        "exact": exact,
        "partial": float(overall["partial"].f1),
        "overlap": float(overall["ent_type"].f1),
    }


def pairwise_span_agreement(annotations: ItemSpans) -> list[dict[str, Any]]:
    """For each annotator pair ``a < b``: items both annotated (``n``) and ``span_f1``."""
    annotators = sorted({who for by_item in annotations.values() for who in by_item})
    pairs = []
    for a, b in itertools.combinations(annotators, 2):
        shared = [by for by in annotations.values() if a in by and b in by]
        scores = span_f1([by[a] for by in shared], [by[b] for by in shared])
        pairs.append({"a": a, "b": b, "n": len(shared), **scores})
    return pairs


def token_units(
    texts: Mapping[Any, str], annotations: ItemSpans
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Krippendorff reliability data at token level: ``(units, annotators, values,
    value_names)``, one row per (token, annotator) of items with >= 2 annotators.

    A unit is one token of one item; its value is the label of the entity it falls in,
    ``O`` outside; annotators are coded in sorted order.
    """
    names = [
        OUTSIDE,
        *sorted({s.label for by in annotations.values() for v in by.values() for s in v}),
    ]
    code = {name: k for k, name in enumerate(names)}
    who = {w: k for k, w in enumerate(sorted({w for by in annotations.values() for w in by}))}
    units, coders, values, offset = [], [], [], 0
    for item, by in annotations.items():
        if len(by) < 2:
            continue
        text = texts[item]
        tokens = tokenize(text)
        for annotator, spans in by.items():
            tags = spans_to_tags(tokens, spans, len(text))
            units.append(offset + np.arange(len(tokens)))
            coders.append(np.full(len(tokens), who[annotator]))
            values.append(np.array([code[split_tag(t)[1] or OUTSIDE] for t in tags], dtype=int))
        offset += len(tokens)
    if not units:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, names
    return (
        np.concatenate(units).astype(np.int64),
        np.concatenate(coders).astype(np.int64),
        np.concatenate(values).astype(np.int64),
        names,
    )


def token_vote(
    tags: Sequence[Sequence[str]], weights: Sequence[float] | None = None
) -> list[str] | None:
    """The weighted majority BIO tag of every token, or None if any token is tied.

    ``tags``: one tag sequence per annotator, all of the same length.
    """
    names = sorted({t for row in tags for t in row})
    code = {t: k for k, t in enumerate(names)}
    votes = np.array([[code[t] for t in row] for row in tags], dtype=np.int64)
    if votes.ndim != 2 or not votes.size:
        return [] if len(tags) else None
    w = np.ones(len(tags)) if weights is None else np.asarray(weights, dtype=np.float64)
    tally = np.zeros((votes.shape[1], len(names)))
    for row, weight in zip(votes, w, strict=True):  # loop over annotators, not tokens
        tally[np.arange(votes.shape[1]), row] += weight
    best = tally.max(axis=1, keepdims=True)
    if ((tally == best).sum(axis=1) > 1).any():
        return None
    return [names[k] for k in tally.argmax(axis=1)]


def span_consensus(
    text: str, spans_by_annotator: Sequence[Sequence[Span]], weights: Sequence[float] | None = None
) -> list[Span] | None:
    """Consensus spans of one item by token-level vote (``token_vote``), read back into
    character spans snapped to tokens; None when the annotators tie on some token."""
    tokens = tokenize(text)
    tags = [spans_to_tags(tokens, spans, len(text)) for spans in spans_by_annotator]
    voted = token_vote(tags, weights)
    return None if voted is None else tags_to_spans(tokens, voted)
