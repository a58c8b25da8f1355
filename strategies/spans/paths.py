"""Viterbi paths as character spans, for many sentences at once.

A padded path matrix (``(n, T)`` tag columns of ``crf.tag_set``: ``0`` is ``O``, label
``k``'s ``B`` is ``1 + 2k`` and its ``I`` is ``2 + 2k``; ``-1`` on padding) is read the
way ``tokens.tag_runs`` reads tags (conlleval, seqeval's default): an entity starts at
a ``B``, or at an ``I`` whose label differs from the token before it; it ends where
the next token does not continue it. Whole matrices at a time, no loop per sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from strategies.spans.tokens import Token


@dataclass(frozen=True)
class PathSpans:
    """Entities of ``n`` sentences as flat arrays in sentence, then text order.

    ``rows``: the sentence of each entity; ``starts``/``ends``: its half-open character
    range; ``labels``: its label's index in the project's labels.
    """

    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    labels: np.ndarray

    def per_row(self, n: int, names: Sequence[str]) -> list[list[dict[str, object]]]:
        """Each sentence's spans as ``{"start", "end", "label"}`` dicts (the API's shape)."""
        out: list[list[dict[str, object]]] = [[] for _ in range(n)]
        for row, start, end, label in zip(
            self.rows.tolist(), self.starts.tolist(), self.ends.tolist(), self.labels.tolist(),
            strict=True,
        ):  # fmt: skip
            out[row].append({"start": start, "end": end, "label": names[label]})
        return out


def path_runs(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Entities of a padded path matrix as token ranges: ``(rows, first, last, labels)``,
    ``last`` exclusive, in row-major order."""
    columns = np.asarray(columns, dtype=np.int64)
    entity = columns > 0
    label = np.where(entity, (columns - 1) // 2, -1)
    begin = entity & ((columns - 1) % 2 == 0)
    before = np.pad(label, ((0, 0), (1, 0)), constant_values=-1)[:, :-1]
    starts = entity & (begin | (before != label))
    after_starts = np.pad(starts, ((0, 0), (0, 1)), constant_values=True)[:, 1:]
    after_entity = np.pad(entity, ((0, 0), (0, 1)), constant_values=False)[:, 1:]
    ends = entity & (after_starts | ~after_entity)
    rows, first = np.nonzero(starts)
    _, last = np.nonzero(ends)  # one end per start, both in row-major order
    return rows, first, last + 1, label[rows, first]


def token_offsets(
    sentences: Sequence[Sequence[Token]], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """The tokens' character starts and ends padded to ``(n, width)`` (-1 on padding)."""
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    mask = np.arange(width)[None, :] < lengths[:, None]
    starts = np.full((len(sentences), width), -1, dtype=np.int64)
    ends = starts.copy()
    starts[mask] = [t.start for s in sentences for t in s]
    ends[mask] = [t.end for s in sentences for t in s]
    return starts, ends


def path_spans(columns: np.ndarray, sentences: Sequence[Sequence[Token]]) -> PathSpans:
    """The character spans of the entities on each sentence's path (``sentences``: the
    tokens the paths were decoded over, in the same order)."""
    columns = np.asarray(columns, dtype=np.int64)
    rows, first, last, labels = path_runs(columns)
    starts, ends = token_offsets(sentences, columns.shape[1])
    return PathSpans(rows, starts[rows, first], ends[rows, last - 1], labels)
