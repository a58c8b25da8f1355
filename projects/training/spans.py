"""A span project's steps of the retrain (`run._train_and_score` dispatches to `span_steps`).

The model is a linear-chain CRF (`strategies.spans.crf.train_span_model`) over the items'
tokens (`strategies.spans.tokens.tokenize`) and their final spans as BIO tags; the
holdout is judged on entities (`strategies.spans.metrics.evaluate_spans`); the pool is
scored with the project's sequence strategy (`strategies.spans.query.score_sequences`)
over the CRF's paths and marginals, at most `POOL_CHUNK` sentences at a time, each in
one vectorised pass (`strategies.spans.inference.predict_padded`). A large pool is
split into chunks of whole passes that every free worker scores
(`chunks.rescore_started` with a `SpanChunkScorer`); the passes are the same whoever
scores them, so the scores are the same bits (a pass's rounding depends on the
sentences padded with it), and each chunk's predicted spans (`path_spans`) join the
others' offset by its start, as its passes' do. The ranking and the item rows are
written the way classification writes them, with each sentence's predicted spans
(`predicted.py`), so batches pick from it with the existing selectors over the pool's
text feature rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from django.conf import settings

from projects.models import Item, ModelVersion, Project
from projects.pool.snapshot import PoolSnapshot
from projects.training.chunks import rescore_started
from projects.training.predicted import PredictedAnswers, answers_joined
from projects.training.scorers import Part
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
# A scored sentence's columns in a chunk's result.
SCORE, PREDICTION, LEAST = range(3)


def span_steps(
    project: Project,
    version: ModelVersion,
    snap: PoolSnapshot,
    save: Callable[[Any], str],
    timings: dict[str, float],
    attempt: int,
) -> Scored:
    """Train, save (through `save(model)`, which returns the file's name), evaluate and
    score the pool: what `run._train_and_score` needs of a span project. `attempt`: the
    claim the retrain holds (the rescore's chunks are keyed by it)."""
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
    size, step = chunk_sentences()
    scorer = SpanChunkScorer(model, committee, project.strategy, len(project.labels), step)
    ids = snap.ids[snap.unlabeled]
    with rescore_started(
        version=version, attempt=attempt, ids=ids, scorer=scorer, size=size
    ) as rescore:
        merged = rescore.results(len(ids), 3, lambda a, b: scorer.score_ids(project.pk, ids[a:b]))
    rescore.timings_note(timings)
    scores, predictions, least = pool_merged(project, merged.rows, seed=version.version)
    answers = merged.answers or answers_joined([], [], 0)
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


def chunk_sentences() -> tuple[int, int]:
    """(sentences per rescore chunk, per scoring pass): WINNOW_SPAN_SCORE_SENTENCES, in
    passes of at most `POOL_CHUNK`, rounded up to whole passes. From `POOL_CHUNK` up,
    every split's passes are those of a rescore in one chunk, so they score the same
    bits; below it, a smaller setting scores in smaller passes."""
    wanted = max(1, settings.WINNOW_SPAN_SCORE_SENTENCES)
    step = min(POOL_CHUNK, wanted)
    return -(-wanted // step) * step, step


@dataclass
class SpanChunkScorer:
    """What a chunk of a span pool needs (`scorers.ChunkScorer`): the CRF, the committee
    if the strategy asks for one, the strategy's name, the label count, and the
    sentences per pass (the retrain's, so every worker pads the same sentences together:
    a pass's rounding depends on its longest sentence)."""

    model: SpanModel
    committee: list[SpanModel] | None
    strategy: str
    n_labels: int
    step: int = POOL_CHUNK

    @cached_property
    def compiled(self) -> list[CompiledCRF]:
        """The model's weights as arrays, then each member's: once per process."""
        return [compile_crf(m) for m in [self.model, *(self.committee or [])]]

    def score_ids(self, project_id: int, ids: np.ndarray) -> Part:
        """Per sentence of `ids`: the strategy's score (0 for random, drawn over the
        merged pool), the predicted label code and ``1 - P(y*|x)``, and the spans on its
        path; `step` at a time from the first."""
        out = np.zeros((len(ids), 3))
        found: list[PredictedAnswers] = []
        starts: list[int] = []
        for tokens in _tokens_in_chunks(ids, self.step):
            at = len(starts) * self.step
            rows, spans = self._score_tokens(tokens)
            out[at : at + len(tokens)] = rows
            found.append(PredictedAnswers(len(tokens), spans=spans))
            starts.append(at)
        return Part(out, answers_joined(found, starts, len(ids)))

    def _score_tokens(self, tokens: list[list[Token]]) -> tuple[np.ndarray, PathSpans]:
        words = [[t.text for t in row] for row in tokens]
        prediction = predict_padded(self.model, words, self.compiled[0])
        members = zip(self.committee or [], self.compiled[1:], strict=True)
        votes: list[SequencePrediction] = [predict_padded(m, words, c) for m, c in members]
        out = np.zeros((len(words), 3))
        if SEQUENCE_STRATEGIES[self.strategy].needs_model:
            ctx = SequenceContext(len(words), prediction=prediction, committee=votes or None)
            out[:, SCORE] = score_sequences(self.strategy, ctx)
        out[:, PREDICTION] = entity_label_codes(prediction.columns, self.n_labels)
        out[:, LEAST] = 1.0 - prediction.path_proba
        return out, path_spans(prediction.columns, tokens)


def pool_merged(
    project: Project, merged: np.ndarray, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Each sentence's strategy score and predicted label code, and the pool's largest
    ``1 - P(y*|x)`` (the stopping rules' uncertainty), from the chunks' merged rows.
    Random scores are drawn here, once over the whole pool, whatever the chunks."""
    if not len(merged):
        return np.zeros(0), np.zeros(0, dtype=np.int64), None
    scores = merged[:, SCORE]
    if not SEQUENCE_STRATEGIES[project.strategy].needs_model:
        ctx = SequenceContext(len(merged), random_state=project.random_state + 7919 * seed)
        scores = score_sequences(project.strategy, ctx)
    predictions = merged[:, PREDICTION].astype(np.int64)
    return scores, predictions, float(merged[:, LEAST].max(initial=0.0))


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


def _tokens_in_chunks(ids: np.ndarray, size: int | None = None) -> Iterator[list[list[Token]]]:
    """The items' tokens, `size` (else `POOL_CHUNK`) items (in the order of `ids`) at a
    time."""
    size = size or POOL_CHUNK
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
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
