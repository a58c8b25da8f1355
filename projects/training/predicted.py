"""A model's whole answer for many items, beside its one `prediction` code per item.

Multi-label models answer a set per item (``strategies.models.multilabel_sets``), span
models the spans on each Viterbi path (``strategies.spans.paths``). A retrain keeps
them for the whole pool in its ranking file (`rankings.py`) and writes them to the item
rows it writes scores to (`scores.scores_write`: `Item.predicted_labels`,
`Item.predicted_spans`), as it does the prediction code; stream items get theirs when
they arrive (`stream.answers`). Kept as arrays; made into JSON only for the rows written
or exported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from projects.models import Project
from strategies.spans.paths import PathSpans

# The item column holding each task's answer.
ANSWER_COLUMN = {Project.Task.MULTILABEL: "predicted_labels", Project.Task.SPANS: "predicted_spans"}


@dataclass(frozen=True)
class PredictedAnswers:
    """``n`` items' answers: ``sets`` ``(n, labels)`` booleans, or ``spans`` by row."""

    n: int
    sets: np.ndarray | None = None
    spans: PathSpans | None = None

    @property
    def column(self) -> str:
        return "predicted_labels" if self.sets is not None else "predicted_spans"

    def take(self, positions: np.ndarray) -> PredictedAnswers:
        """The answers of the rows at ``positions``, in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.sets is not None:
            return PredictedAnswers(len(positions), sets=self.sets[positions])
        assert self.spans is not None
        new_row = np.full(self.n, -1, dtype=np.int64)
        new_row[positions] = np.arange(len(positions))
        rows = new_row[self.spans.rows]
        kept = np.flatnonzero(rows >= 0)
        kept = kept[np.argsort(rows[kept], kind="stable")]  # spans stay in text order
        s = self.spans
        taken = PathSpans(rows[kept], s.starts[kept], s.ends[kept], s.labels[kept])
        return PredictedAnswers(len(positions), spans=taken)

    def lists(self, names: list[str]) -> list[list[Any]]:
        """Each row's answer as the API shows it: label names, or span dicts."""
        if self.sets is not None:
            return [[names[j] for j in np.flatnonzero(row)] for row in self.sets]
        assert self.spans is not None
        return self.spans.per_row(self.n, names)

    def json_cells(self, names: list[str]) -> list[str]:
        """Each row's answer as JSON text, for a raw UPDATE of its item column."""
        return [json.dumps(answer, ensure_ascii=False) for answer in self.lists(names)]

    def arrays(self) -> dict[str, np.ndarray]:
        """The answers as arrays for an ``.npz`` file (``answers_load`` reads them)."""
        if self.sets is not None:
            return {
                "set_bits": np.packbits(self.sets, axis=1),
                "set_labels": np.array(self.sets.shape[1]),
            }
        assert self.spans is not None
        s = self.spans
        return {
            "span_rows": s.rows.astype(np.int64),
            "span_starts": s.starts.astype(np.int64),
            "span_ends": s.ends.astype(np.int64),
            "span_labels": s.labels.astype(np.int16),
        }


def answers_load(data: Any, n: int) -> PredictedAnswers | None:
    """What ``PredictedAnswers.arrays`` wrote for ``n`` rows, if the file holds any."""
    if "set_bits" in data:
        count = int(data["set_labels"])
        sets = np.unpackbits(data["set_bits"], axis=1, count=count).astype(bool)
        return PredictedAnswers(n, sets=sets.reshape(n, count))
    if "span_rows" in data:
        spans = PathSpans(
            data["span_rows"], data["span_starts"], data["span_ends"], data["span_labels"]
        )
        return PredictedAnswers(n, spans=spans)
    return None


def answers_joined(parts: list[PredictedAnswers], starts: list[int], n: int) -> PredictedAnswers:
    """Consecutive row ranges' answers (a rescore's passes or chunks; ``parts[i]``'s
    range starts at row ``starts[i]``) as the ``n`` rows' answers: sets stacked, spans'
    rows offset by their range's start. No range: no span."""
    if parts and parts[0].sets is not None:
        return PredictedAnswers(n, sets=np.concatenate([p.sets for p in parts]))  # type: ignore[misc]
    spans = [p.spans for p in parts]
    if not all(s is not None for s in spans):
        raise ValueError("every range answers the same kind")
    found = [s for s in spans if s is not None]
    empty = [np.zeros(0, dtype=np.int64)]
    return PredictedAnswers(
        n,
        spans=PathSpans(
            np.concatenate(empty + [s.rows + at for s, at in zip(found, starts, strict=True)]),
            np.concatenate(empty + [s.starts for s in found]),
            np.concatenate(empty + [s.ends for s in found]),
            np.concatenate(empty + [s.labels for s in found]),
        ),
    )
