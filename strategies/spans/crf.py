"""A linear-chain CRF over token features (sklearn-crfsuite), and a bagged committee.

What the sequence strategies need from a model is, per sentence, the Viterbi path, its
probability ``P(y*|x)`` and the per-token marginals ``P(y_t = k | x)`` (forward-backward;
Lafferty et al. 2001). These are read from crfsuite's tagger one sentence at a time (the
tagger is per sequence) and returned as padded arrays, so the strategies themselves are
vectorised over the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sklearn_crfsuite

from strategies.spans.features import Features, Gazetteer, sentence_token_features
from strategies.spans.tokens import OUTSIDE

Sentence = Sequence[str]
# L2 and L1 weights and iterations of L-BFGS: sklearn-crfsuite's tutorial values, which
# are robust on small training sets (the cold start of active learning).
C1, C2, MAX_ITERATIONS = 0.1, 0.1, 100


def tag_set(labels: Sequence[str]) -> tuple[str, ...]:
    """``("O", "B-L1", "I-L1", "B-L2", ...)``: the fixed column order of marginals."""
    return (OUTSIDE, *(f"{p}-{label}" for label in labels for p in ("B", "I")))


@dataclass
class SequencePrediction:
    """The model's view of ``n`` sentences, padded to the longest (``T`` tokens).

    ``marginals``: ``(n, T, K)`` token marginals over ``tags`` (0 on padding);
    ``mask``: ``(n, T)`` True on real tokens; ``path_proba``: ``(n,)`` ``P(y*|x)`` of
    the Viterbi path ``paths[i]``; ``lengths``: tokens per sentence.
    """

    tags: tuple[str, ...]
    paths: list[list[str]]
    path_proba: np.ndarray
    marginals: np.ndarray
    mask: np.ndarray = field(repr=False)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per sentence."""
        return self.mask.sum(axis=1)


@dataclass
class SpanModel:
    """A trained CRF with the tag set its predictions are reported over."""

    crf: sklearn_crfsuite.CRF
    tags: tuple[str, ...]
    gazetteer: Gazetteer | None = None

    def features(self, sentences: Sequence[Sentence]) -> list[list[Features]]:
        """crfsuite's input: the token features of every sentence (with this gazetteer)."""
        return [sentence_token_features(words, self.gazetteer) for words in sentences]

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """The Viterbi tag path of every sentence."""
        return [list(p) for p in self.crf.predict(self.features(sentences))]

    def predict_sequences(self, sentences: Sequence[Sentence]) -> SequencePrediction:
        """Paths, path probabilities and padded marginals in one pass of the tagger."""
        n, width = len(sentences), max((len(s) for s in sentences), default=0)
        marginals = np.zeros((n, width, len(self.tags)))
        mask = np.zeros((n, width), dtype=bool)
        path_proba = np.ones(n)
        paths: list[list[str]] = []
        column = {tag: k for k, tag in enumerate(self.tags)}
        known = [(column[t], t) for t in self.crf.tagger_.labels() if t in column]
        tagger = self.crf.tagger_
        for i, xseq in enumerate(self.features(sentences)):
            if not xseq:
                paths.append([])
                continue
            tagger.set(xseq)
            path = tagger.tag()
            paths.append(list(path))
            path_proba[i] = tagger.probability(path)
            mask[i, : len(xseq)] = True
            for k, tag in known:
                marginals[i, : len(xseq), k] = [tagger.marginal(tag, t) for t in range(len(xseq))]
        return SequencePrediction(self.tags, paths, path_proba, marginals, mask)


def train_span_model(
    sentences: Sequence[Sentence],
    tags: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    gazetteer: Gazetteer | None = None,
    c1: float = C1,
    c2: float = C2,
    max_iterations: int = MAX_ITERATIONS,
) -> SpanModel:
    """Fit a CRF (L-BFGS, elastic-net penalty ``c1``/``c2``) on tagged sentences.

    ``labels`` are the project's entity labels; tags outside ``tag_set(labels)`` are
    refused so that every model of a project reports marginals over the same columns.
    """
    allowed = set(tag_set(labels))
    if len(sentences) != len(tags) or not sentences:
        raise ValueError("need one tag sequence per sentence, and at least one sentence")
    for words, row in zip(sentences, tags, strict=True):
        if len(words) != len(row):
            raise ValueError("every sentence needs one tag per token")
        if not set(row) <= allowed:
            raise ValueError(f"unknown tags {sorted(set(row) - allowed)}")
    crf = sklearn_crfsuite.CRF(
        algorithm="lbfgs",
        c1=c1,
        c2=c2,
        max_iterations=max_iterations,
        all_possible_transitions=True,
    )
    model = SpanModel(crf, tag_set(labels), dict(gazetteer) if gazetteer else None)
    crf.fit(model.features(sentences), [list(row) for row in tags])
    return model


def train_span_committee(
    sentences: Sequence[Sentence],
    tags: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    size: int = 5,
    gazetteer: Gazetteer | None = None,
    random_state: int | None = None,
    max_iterations: int = MAX_ITERATIONS,
) -> list[SpanModel]:
    """``size`` CRFs, each on a bootstrap resample of the sentences (bagging; Breiman
    1996, as query-by-bagging in Abe & Mamitsuka 1998)."""
    if size < 2:
        raise ValueError("a committee needs at least two members")
    rng = np.random.default_rng(random_state)
    members = []
    for _ in range(size):
        rows = rng.integers(0, len(sentences), size=len(sentences))
        members.append(
            train_span_model(
                [sentences[i] for i in rows],
                [tags[i] for i in rows],
                labels,
                gazetteer=gazetteer,
                max_iterations=max_iterations,
            )
        )
    return members
