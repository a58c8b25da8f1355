"""A trained CRF's Viterbi paths, path probabilities and token marginals for many
sentences at once: forward-backward and Viterbi in numpy over padded arrays.

``SpanModel.predict_sequences`` asks crfsuite's tagger, which holds one sentence at a
time, and reads each token's marginal with a call per tag; over a pool of 100k
sentences that is millions of Python calls. Here the model's weights are read once
(``compile_crf``); a chunk's tokens become one sparse attribute matrix, their state
scores one product with the weight matrix, and the recursions loop over token
positions only, each step vectorised over every sentence of the chunk. The token
feature dicts themselves are still built per token: they are crfsuite's input.

A linear-chain CRF of crfsuite's kind (CRF1d: state and transition features, no
start or end transitions) scores a tagging ``y`` of ``x`` as
``s(y, x) = sum_t sum_a x_ta w(a, y_t) + sum_t u(y_{t-1}, y_t)``, and
``P(y|x) = exp(s(y, x)) / Z(x)`` (Lafferty et al. 2001; Sutton & McCallum 2012, §4.1).
The results equal the tagger's to rounding (``tests/strategies/test_span_inference.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np
import scipy.sparse as sp

from strategies.spans.crf import Sentence, SequencePrediction, SpanModel
from strategies.spans.features import Features

# Sentences per pass: the padded arrays are (chunk, longest sentence, tags) floats.
CHUNK = 4096


@dataclass
class PaddedPrediction(SequencePrediction):
    """A ``SequencePrediction`` that also keeps the Viterbi paths as tag columns,
    ``(n, T)``, -1 on padding (what ``query.path_indices`` would rebuild from ``paths``)."""

    columns: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class CompiledCRF:
    """A CRF's weights as arrays over ``tags`` (the model's fixed column order).

    ``state``: ``(attributes, K)``; ``transition``: ``(K, K)``, from row to column;
    ``known``: the columns the CRF was trained with (the others are never predicted).
    """

    tags: tuple[str, ...]
    attributes: dict[str, int]
    state: sp.csr_matrix
    transition: np.ndarray
    known: np.ndarray


def compile_crf(model: SpanModel) -> CompiledCRF:
    """Read a trained ``SpanModel``'s state and transition weights into arrays."""
    column = {tag: k for k, tag in enumerate(model.tags)}
    crf = model.crf
    known = np.zeros(len(model.tags), dtype=bool)
    known[[column[t] for t in crf.classes_ if t in column]] = True
    attributes: dict[str, int] = {}
    rows, cols, weights = [], [], []
    for (attribute, tag), weight in crf.state_features_.items():
        if tag in column:
            rows.append(attributes.setdefault(attribute, len(attributes)))
            cols.append(column[tag])
            weights.append(weight)
    state = sp.csr_matrix(
        (np.asarray(weights, dtype=np.float64), (rows, cols)),
        shape=(len(attributes), len(model.tags)),
    )
    transition = np.zeros((len(model.tags), len(model.tags)))
    for (before, after), weight in crf.transition_features_.items():
        if before in column and after in column:
            transition[column[before], column[after]] = weight
    return CompiledCRF(model.tags, attributes, state, transition, known)


def attribute_matrix(compiled: CompiledCRF, tokens: Sequence[Features]) -> sp.csr_matrix:
    """``(tokens, attributes)``: each token's feature dict as crfsuite reads it
    (``"key:value"`` with weight 1 for strings, ``key`` with the number otherwise);
    attributes the model never saw are dropped, as the tagger drops them."""
    index = compiled.attributes
    names = [
        f"{key}:{value}" if value.__class__ is str else key
        for row in tokens
        for key, value in row.items()
    ]
    values = np.fromiter(
        (1.0 if v.__class__ is str else float(v) for row in tokens for v in row.values()),
        dtype=np.float64,
        count=len(names),
    )
    codes = np.fromiter(map(index.get, names, repeat(-1)), dtype=np.int64, count=len(names))
    counts = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    owner = np.repeat(np.arange(len(tokens)), counts)
    seen = codes >= 0
    return sp.csr_matrix(
        (values[seen], (owner[seen], codes[seen])), shape=(len(tokens), len(index))
    )


def emissions(compiled: CompiledCRF, xseqs: Sequence[Sequence[Features]]) -> np.ndarray:
    """``(n, T, K)`` state scores, ``-inf`` on tags the CRF does not know, 0 on padding."""
    lengths = np.fromiter(map(len, xseqs), dtype=np.int64, count=len(xseqs))
    width = int(lengths.max(initial=0))
    mask = np.arange(width)[None, :] < lengths[:, None]
    flat = [token for x in xseqs for token in x]
    scores = (attribute_matrix(compiled, flat) @ compiled.state).toarray()
    out = np.zeros((len(xseqs), width, len(compiled.tags)))
    out[mask] = scores
    out[:, :, ~compiled.known] = -np.inf
    return out


def decode(compiled: CompiledCRF, emit: np.ndarray, mask: np.ndarray) -> PaddedPrediction:
    """Viterbi paths, ``P(y*|x)`` and token marginals from ``(n, T, K)`` state scores.

    Forward-backward in probability space with a normaliser per step (Rabiner 1989,
    §V.A), so each step is a ``(n, K) @ (K, K)`` product; Viterbi in log space.
    """
    n, width, K = emit.shape
    lengths = mask.sum(axis=1)
    rows = np.arange(n)
    last = np.maximum(lengths - 1, 0)
    if not width:
        none = np.zeros((n, 0), dtype=np.int64)
        return PaddedPrediction(compiled.tags, [[] for _ in none], np.ones(n), emit, mask, none)
    trans = compiled.transition
    t_max = trans.max()
    M = np.exp(trans - t_max)
    e_max = emit.max(axis=2, keepdims=True)
    E = np.exp(emit - e_max)  # 0 on unknown tags
    alpha = np.empty((n, width, K))
    scale = np.ones((n, width))
    scale[:, 0] = E[:, 0].sum(axis=1)
    alpha[:, 0] = E[:, 0] / scale[:, 0, None]
    for t in range(1, width):
        alpha[:, t] = (alpha[:, t - 1] @ M) * E[:, t]
        scale[:, t] = alpha[:, t].sum(axis=1)
        alpha[:, t] /= scale[:, t, None]
    beta = np.ones((n, width, K))
    for t in range(width - 2, -1, -1):
        inner = (E[:, t + 1] * beta[:, t + 1]) @ M.T / scale[:, t + 1, None]
        beta[:, t] = np.where(mask[:, t + 1, None], inner, 1.0)
    marginals = np.where(mask[..., None], alpha * beta, 0.0)
    scale = np.where(mask, scale, 1.0)
    log_z = (
        np.log(scale).sum(axis=1)
        + np.where(mask, e_max[..., 0], 0.0).sum(axis=1)
        + np.maximum(lengths - 1, 0) * t_max
    )

    delta = np.empty((n, width, K))
    delta[:, 0] = emit[:, 0]
    back = np.zeros((n, width, K), dtype=np.int64)
    into = np.ascontiguousarray(trans.T)[None]  # [to, from]: reductions over the last axis
    for t in range(1, width):
        step = delta[:, t - 1, None, :] + into
        back[:, t] = step.argmax(axis=2)
        delta[:, t] = np.take_along_axis(step, back[:, t, :, None], axis=2)[..., 0] + emit[:, t]
    best_end = delta[rows, last]
    end_tag = best_end.argmax(axis=1)
    path_proba = np.where(lengths > 0, np.exp(best_end[rows, end_tag] - log_z), 1.0)
    path = np.full((n, width), -1, dtype=np.int64)
    path[rows, last] = end_tag
    for t in range(width - 2, -1, -1):  # back from each sentence's last token
        follow = back[rows, t + 1, np.maximum(path[:, t + 1], 0)]
        path[:, t] = np.where(t < last, follow, path[:, t])
    path = np.where(mask, path, -1)
    tags = np.asarray(compiled.tags, dtype=object)
    paths = [tags[row[:length]].tolist() for row, length in zip(path, lengths, strict=True)]
    return PaddedPrediction(compiled.tags, paths, path_proba, marginals, mask, path)


def predict_padded(
    model: SpanModel, sentences: Sequence[Sentence], compiled: CompiledCRF | None = None
) -> PaddedPrediction:
    """``model.predict_sequences(sentences)``, computed in one vectorised pass."""
    compiled = compiled or compile_crf(model)
    xseqs = model.features(sentences)
    emit = emissions(compiled, xseqs)
    lengths = np.array([len(x) for x in xseqs], dtype=np.int64)
    mask = np.arange(emit.shape[1])[None, :] < lengths[:, None]
    return decode(compiled, emit, mask)
