"""A span project's steps of the retrain (`run._train_and_score` dispatches to `span_steps`).

The model is a linear-chain CRF (`strategies.spans.crf.train_span_model`) over the items'
tokens (`strategies.spans.tokens.tokenize`) and their final spans as BIO tags; the
holdout is judged on entities (`strategies.spans.metrics.evaluate_spans`); the pool is
scored with the project's sequence strategy (`strategies.spans.query.score_sequences`)
over the CRF's paths and marginals, `POOL_CHUNK` sentences at a time, each chunk in one
vectorised pass (`strategies.spans.inference.predict_padded`). The ranking and the item
rows are written the way classification writes them, so batches pick from it with the
existing selectors over the pool's text feature rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from projects.models import Item, ModelVersion, Project
from projects.pool.snapshot import PoolSnapshot
from projects.training.predicted import PredictedAnswers
from projects.training.steps import Scored
from strategies.spans.crf import (
    SequencePrediction,
    SpanModel,
    train_span_committee,
    train_span_model,
)
from strategies.spans.inference import CompiledCRF, compile_crf, predict_padded
from strategies.spans.metrics import evaluate_spans
from strategies.spans.paths import PathSpans, path_spans
from strategies.spans.query import (
    SEQUENCE_STRATEGIES,
    SequenceContext,
    score_sequences,
)
from strategies.spans.tokens import Span, Token, spans_to_tags, tokenize

# Sentences read, featurised and scored at once: the padded marginals are
# (chunk, longest sentence, tags) floats.
POOL_CHUNK = 2000
COMMITTEE_SIZE = 3
ESTIMATOR = "crf"


def span_steps(
    project: Project,
    version: ModelVersion,
    snap: PoolSnapshot,
    save: Callable[[Any], str],
    timings: dict[str, float],
) -> Scored:
    """Train, save (through `save(model)`, which returns the file's name), evaluate and
    score the pool: what `run._train_and_score` needs of a span project."""
    t = time.perf_counter()
    words, tags = tagged_items(snap.ids[snap.train])
    # An item without a token (an empty text) teaches the CRF nothing.
    kept = [i for i, row in enumerate(words) if row]
    words, tags = [words[i] for i in kept], [tags[i] for i in kept]
    if not words:
        raise ValueError("no labelled item with text to train on yet")
    model = train_span_model(words, tags, project.labels)
    timings["train"] = time.perf_counter() - t
    t = time.perf_counter()
    model_file = save(model)
    timings["save_model"] = time.perf_counter() - t

    t = time.perf_counter()
    held = snap.ids[snap.labeled & snap.holdout]
    evaluation = None
    if len(held):
        true_words, true_tags = tagged_items(held)
        evaluation = evaluate_spans(
            true_tags, model.predict(true_words), random_state=project.random_state
        )
    timings["evaluate"] = time.perf_counter() - t

    t = time.perf_counter()
    committee = None
    if SEQUENCE_STRATEGIES[project.strategy].needs_committee:
        committee = train_span_committee(
            words, tags, project.labels, size=COMMITTEE_SIZE, random_state=project.random_state
        )
    scores, predictions, least, answers = pool_score(
        project, model, snap.ids[snap.unlabeled], committee, seed=version.version
    )
    timings["score"] = time.perf_counter() - t
    return Scored(
        model=model,
        model_file=model_file,
        evaluation=evaluation,
        scores=scores,
        predictions=predictions,
        uncertainty=least,
        stop_set_predictions=lambda ids: stop_set_predictions(model, ids),
        estimator=ESTIMATOR,
        hyperparameters={"c1": model.crf.c1, "c2": model.crf.c2},
        answers=answers,
    )


def pool_score(
    project: Project,
    model: SpanModel,
    ids: np.ndarray,
    committee: list[SpanModel] | None = None,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, float | None, PredictedAnswers]:
    """Each sentence's strategy score and predicted label code, the pool's largest
    ``1 - P(y*|x)`` (the stopping rules' uncertainty) and each sentence's predicted
    spans, over `POOL_CHUNK`-item chunks."""
    compiled = compile_crf(model)
    members = [compile_crf(m) for m in committee or []]
    scores, predictions, least, found = [], [], [], []
    for index, tokens in enumerate(_tokens_in_chunks(ids)):
        words = [[t.text for t in row] for row in tokens]
        prediction = predict_padded(model, words, compiled)
        votes: list[SequencePrediction] = [
            predict_padded(m, words, c) for m, c in zip(committee or [], members, strict=True)
        ]
        ctx = SequenceContext(
            n_pool=len(words),
            prediction=prediction,
            committee=votes or None,
            # one stream of random scores per chunk, all fixed by the project's seed
            random_state=project.random_state + 7919 * seed + 104729 * index,
        )
        scores.append(score_sequences(project.strategy, ctx))
        predictions.append(entity_label_codes(prediction.columns, len(project.labels)))
        least.append(1.0 - prediction.path_proba)
        found.append(path_spans(prediction.columns, tokens))
    if not scores:
        empty = PathSpans(*(np.zeros(0, dtype=np.int64) for _ in range(4)))
        return np.zeros(0), np.zeros(0, dtype=np.int64), None, PredictedAnswers(0, spans=empty)
    return (
        np.concatenate(scores),
        np.concatenate(predictions),
        float(np.concatenate(least).max(initial=0.0)),
        PredictedAnswers(len(ids), spans=_concatenated(found)),
    )


def _concatenated(chunks: list[PathSpans]) -> PathSpans:
    """The chunks' spans as one pool's: each chunk's rows offset by the chunk's start."""
    offsets = np.arange(len(chunks)) * POOL_CHUNK
    return PathSpans(
        np.concatenate([c.rows + at for c, at in zip(chunks, offsets.tolist(), strict=True)]),
        np.concatenate([c.starts for c in chunks]),
        np.concatenate([c.ends for c in chunks]),
        np.concatenate([c.labels for c in chunks]),
    )


def entity_label_codes(paths: np.ndarray, n_labels: int) -> np.ndarray:
    """Per sentence, the label with most predicted entity tokens (the item's one
    `prediction` column), -1 where the path has no entity. ``paths``: tag columns of
    `crf.tag_set` (``O``, then ``B-``/``I-`` per label), -1 on padding."""
    n = len(paths)
    entity = paths > 0
    rows = np.broadcast_to(np.arange(n)[:, None], paths.shape)[entity]
    counts = np.zeros((n, max(n_labels, 1)), dtype=np.int64)
    np.add.at(counts, (rows, (paths[entity] - 1) // 2), 1)
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)


def stop_set_predictions(model: SpanModel, ids: np.ndarray) -> list[int]:
    """The stop set's predicted tags, every token's tag column in item order: stabilizing
    predictions then compares successive models token by token (kappa over the tags)."""
    out: list[int] = []
    compiled: CompiledCRF = compile_crf(model)
    for tokens in _tokens_in_chunks(ids):
        words = [[t.text for t in row] for row in tokens]
        paths = predict_padded(model, words, compiled).columns
        out.extend(paths[paths >= 0].tolist())
    return out


def _tokens_in_chunks(ids: np.ndarray) -> Iterator[list[list[Token]]]:
    """The items' tokens, `POOL_CHUNK` items (in the order of `ids`) at a time."""
    for start in range(0, len(ids), POOL_CHUNK):
        chunk = ids[start : start + POOL_CHUNK]
        texts = dict(Item.objects.filter(pk__in=chunk.tolist()).values_list("id", "text"))
        yield [tokenize(texts[int(i)] or "") for i in chunk]


def tagged_items(ids: np.ndarray) -> tuple[list[list[str]], list[list[str]]]:
    """The items' words and the BIO tags of their final spans, in the order of `ids`."""
    rows = {
        pk: (text or "", spans or [])
        for pk, text, spans in Item.objects.filter(pk__in=ids.tolist()).values_list(
            "id", "text", "spans"
        )
    }
    words, tags = [], []
    for pk in ids.tolist():
        text, spans = rows[pk]
        tokens = tokenize(text)
        words.append([t.text for t in tokens])
        tags.append(spans_to_tags(tokens, [Span.from_dict(s) for s in spans], len(text)))
    return words, tags
