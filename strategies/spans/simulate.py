"""Active learning for spans with a simulated oracle (no database):

    python -m strategies.spans.simulate --conll FILE --strategy mnlp --strategy random

The platform's loop for a span project: a coverage seed set of sentences (k-means++
over sentence features), a CRF retrained after every batch and evaluated on a fixed
test split (entity F1), a sequence strategy's scores, and a batch chosen as a set by
the existing selectors over sentence features. The oracle reveals the true tags. The
classification simulator (``strategies.simulate``) and its JSON contract are untouched.
Costs are counted in annotated tokens as well as sentences.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from strategies.defaults import DEFAULT_SEQUENCE_SELECTOR, DEFAULT_SEQUENCE_STRATEGY
from strategies.metrics import learning_curve_auc
from strategies.seeding import coverage_seed
from strategies.selection import SELECTORS, select_batch
from strategies.spans.crf import MAX_ITERATIONS, SpanModel, train_span_committee, train_span_model
from strategies.spans.features import sentence_features
from strategies.spans.formats import SpanDocument, read_conll, read_jsonl
from strategies.spans.metrics import evaluate_spans
from strategies.spans.query import SEQUENCE_STRATEGIES, SequenceContext, score_sequences
from strategies.spans.tokens import spans_to_tags, tokenize
from strategies.stopping import BatchRecord, evaluate_rules

RULES: list[dict[str, Any]] = [
    {"rule": "stabilizing_predictions", "threshold": 0.99, "window": 3},
    {"rule": "plateau", "epsilon": 0.005, "window": 3},
]


@dataclass
class SpanSplit:
    """Pool and test sentences (words, gold tags), the labels, and the pool's sentence
    features for the seed set and the selectors."""

    pool_words: list[list[str]]
    pool_tags: list[list[str]]
    test_words: list[list[str]]
    test_tags: list[list[str]]
    labels: list[str]
    X_pool: sp.csr_matrix
    seed: int


def tagged(documents: Sequence[SpanDocument]) -> tuple[list[list[str]], list[list[str]]]:
    """Words and BIO tags of every document, with the platform's tokenizer."""
    words, tags = [], []
    for doc in documents:
        tokens = tokenize(doc.text)
        words.append([t.text for t in tokens])
        tags.append(spans_to_tags(tokens, doc.spans, len(doc.text)))
    return words, tags


def make_span_split(
    documents: Sequence[SpanDocument],
    *,
    test_fraction: float,
    seed: int,
    max_pool: int | None = None,
) -> SpanSplit:
    """A random pool/test split of the documents (the pool optionally capped)."""
    words, tags = tagged([d for d in documents if d.text.strip()])
    order = np.random.default_rng(seed).permutation(len(words))
    n_test = max(1, int(round(test_fraction * len(words))))
    test, pool = order[:n_test], order[n_test:]
    pool = pool[:max_pool] if max_pool else pool
    labels = sorted({s.label for d in documents for s in d.spans})
    pool_words = [words[i] for i in pool]
    return SpanSplit(
        pool_words,
        [tags[i] for i in pool],
        [words[i] for i in test],
        [tags[i] for i in test],
        labels,
        sentence_features(pool_words),
        seed,
    )


@dataclass
class SpanState:
    split: SpanSplit
    labeled: np.ndarray
    unlabeled: np.ndarray
    model: SpanModel
    k: int
    random_state: int


SpanChooser = Callable[[SpanState], np.ndarray]  # positions into ``unlabeled``


def span_chooser(
    query: str,
    selector: str = "top_k",
    *,
    committee_size: int = 5,
    max_iterations: int = MAX_ITERATIONS,
) -> SpanChooser:
    """The platform's choice for spans: ``score_sequences`` then ``select_batch``."""
    info = SEQUENCE_STRATEGIES[query]

    def choose(state: SpanState) -> np.ndarray:
        sp_ = state.split
        words = [sp_.pool_words[i] for i in state.unlabeled]
        ctx = SequenceContext(len(words), random_state=state.random_state)
        if info.needs_model and not info.needs_committee:
            ctx.prediction = state.model.predict_sequences(words)
        if info.needs_committee:
            members = train_span_committee(
                [sp_.pool_words[i] for i in state.labeled],
                [sp_.pool_tags[i] for i in state.labeled],
                sp_.labels,
                size=committee_size,
                random_state=state.random_state,
                max_iterations=max_iterations,
            )
            ctx.committee = [m.predict_sequences(words) for m in members]
        scores = score_sequences(query, ctx)
        X = sp_.X_pool[state.unlabeled]
        return select_batch(
            scores, X, state.k, options=selector, random_state=state.random_state
        ).indices

    return choose


def _point(model: SpanModel, split: SpanSplit, labeled: np.ndarray) -> dict[str, Any]:
    m = evaluate_spans(split.test_tags, model.predict(split.test_words))
    tokens = int(sum(len(split.pool_words[i]) for i in labeled))
    return {
        "labels": len(labeled),
        "tokens": tokens,
        "f1": m["f1"],
        "f1_low": m["f1_low"],
        "precision": m["precision"],
        "recall": m["recall"],
    }


def _record(model: SpanModel, split: SpanSplit, point: dict[str, Any]) -> BatchRecord:
    stop_set = split.test_words[:200]
    column = {tag: k for k, tag in enumerate(model.tags)}
    predicted = np.array([column[t] for path in model.predict(stop_set) for t in path])
    return BatchRecord(
        labels=point["labels"],
        metric=point["f1"],
        metric_low=point["f1_low"],
        stop_set_predictions=predicted,
    )


def run_span_loop(
    split: SpanSplit,
    choose: SpanChooser,
    *,
    batch_size: int,
    seed_size: int,
    budget: int,
    until_f1: float | None = None,
    max_iterations: int = MAX_ITERATIONS,
) -> dict[str, Any]:
    """Label ``budget`` sentences (or, with ``until_f1``, on until the test F1 first
    reaches it); returns the curve and where each stopping rule would have fired."""
    n_pool = len(split.pool_words)
    budget = min(budget, n_pool)
    labeled = coverage_seed(split.X_pool, min(seed_size, budget), random_state=split.seed)
    reached = until_f1 is None
    curve: list[dict[str, Any]] = []
    history: list[BatchRecord] = []
    stops: dict[str, dict[str, Any]] = {}
    for step in range(n_pool + 1):
        model = train_span_model(
            [split.pool_words[i] for i in labeled],
            [split.pool_tags[i] for i in labeled],
            split.labels,
            max_iterations=max_iterations,
        )
        point = _point(model, split, labeled)
        curve.append(point)
        history.append(_record(model, split, point))
        for result in evaluate_rules(history, RULES):
            if result.met and result.rule not in stops:
                stops[result.rule] = {
                    "rule": result.rule,
                    "labels": point["labels"],
                    "tokens": point["tokens"],
                    "f1": point["f1"],
                }
        reached = reached or point["f1"] >= until_f1  # type: ignore[operator]
        unlabeled = np.setdiff1d(np.arange(n_pool), labeled)
        k = min(batch_size, (budget if reached else n_pool) - len(labeled), len(unlabeled))
        if k <= 0:
            break
        state = SpanState(split, labeled, unlabeled, model, k, split.seed * 1000 + step)
        picks = np.asarray(choose(state), dtype=np.int64)
        if len(np.unique(picks)) != k or picks.min() < 0 or picks.max() >= len(unlabeled):
            raise RuntimeError(f"chooser returned an invalid batch (wanted {k} rows)")
        labeled = np.concatenate([labeled, unlabeled[picks]])
    return {"curve": curve, "stops": list(stops.values())}


def full_f1(split: SpanSplit, max_iterations: int = MAX_ITERATIONS) -> float:
    """Test entity F1 of the same CRF trained on the whole pool."""
    model = train_span_model(
        split.pool_words, split.pool_tags, split.labels, max_iterations=max_iterations
    )
    return float(evaluate_spans(split.test_tags, model.predict(split.test_words))["f1"])


def resolve_span_strategy(name: str) -> tuple[str, str]:
    """``default`` -> the defaults; ``query`` -> (query, top_k); ``query+selector``."""
    if name == "default":
        return DEFAULT_SEQUENCE_STRATEGY, DEFAULT_SEQUENCE_SELECTOR
    query, _, selector = name.partition("+")
    if query not in SEQUENCE_STRATEGIES:
        raise ValueError(f"unknown sequence strategy {query!r}")
    if (selector or "top_k") not in SELECTORS:
        raise ValueError(f"unknown selector {selector!r}")
    return query, selector or "top_k"


def simulate_spans(
    documents: Sequence[SpanDocument],
    strategies: Sequence[str],
    *,
    batch_size: int = 20,
    seed_size: int = 10,
    budget: int = 200,
    repeats: int = 1,
    test_fraction: float = 0.25,
    random_state: int = 0,
    max_pool: int | None = None,
    committee_size: int = 5,
) -> dict[str, Any]:
    """Every strategy on the same splits and seed sets; JSON-friendly results with each
    run's curve (sentences, tokens, entity F1), AUC over tokens and rule firings."""
    resolved = {name: resolve_span_strategy(name) for name in strategies}
    runs, fulls = [], []
    for repeat in range(repeats):
        split = make_span_split(
            documents, test_fraction=test_fraction, seed=random_state + repeat, max_pool=max_pool
        )
        fulls.append(full_f1(split))
        for name, (query, selector) in resolved.items():
            chooser = span_chooser(query, selector, committee_size=committee_size)
            run = run_span_loop(
                split, chooser, batch_size=batch_size, seed_size=seed_size, budget=budget
            )
            runs.append(
                {"strategy": name, "repeat": repeat, **run, "aulc_tokens": _token_auc(run["curve"])}
            )
    return {"full_f1": float(np.mean(fulls)), "full_f1_per_repeat": fulls, "runs": runs}


def _token_auc(curve: list[dict[str, Any]]) -> float:
    return learning_curve_auc([{"labels": p["tokens"], "f1": p["f1"]} for p in curve], "f1")


def load_documents(path: Path) -> list[SpanDocument]:
    """A ``.jsonl`` file of ``{"text", "spans"}``, else a CoNLL/IOB file."""
    text = path.read_text("utf-8")
    parsed = read_jsonl(text) if path.suffix == ".jsonl" else read_conll(text)
    if parsed.errors:
        raise ValueError(f"{path}: {parsed.errors[0]}")
    return parsed.documents


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, required=True, help="CoNLL/IOB file or .jsonl")
    p.add_argument("--strategy", action="append", default=None)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--seed-size", type=int, default=10)
    p.add_argument("--budget", type=int, default=200, help="sentences to label")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--test-fraction", type=float, default=0.25)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    result = simulate_spans(
        load_documents(a.data),
        a.strategy or ["default", "random"],
        batch_size=a.batch_size,
        seed_size=a.seed_size,
        budget=a.budget,
        repeats=a.repeats,
        test_fraction=a.test_fraction,
        random_state=a.random_state,
    )
    text = json.dumps(result, indent=1)
    if a.out:
        a.out.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
