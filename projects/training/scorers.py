"""What a chunk of a rescore computes, in whichever worker scores it (`chunks`).

A `ChunkScorer` is pickled as the rescore attempt's model file and gives one `Part` per
chunk: `ProbaScorer` for single- and multi-label projects (the probabilities, and what
the strategy reads of the rows beside them), `spans.SpanChunkScorer` for span projects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from projects.pool import features as feature_store
from projects.pool.features import Matrix
from projects.training.predicted import PredictedAnswers
from strategies import query
from strategies._space import Density, row_norms, scaled_density


@dataclass(frozen=True)
class Part:
    """Rows of a rescore's result: one row of numbers per item, and the model's whole
    answer per item where the kind keeps one in its own arrays (span chunks' spans,
    rows counted from the part's first item)."""

    rows: np.ndarray
    answers: PredictedAnswers | None = None


# How this process scores rows [start, stop) of the rescore's ids: the retrain's chunks
# read what it holds already (its copy of the pool's rows), not the store.
Here = Callable[[int, int], Part]


@runtime_checkable
class ChunkScorer(Protocol):
    """What a chunk needs to score its slice of the pool in any worker (pickled)."""

    def score_ids(self, project_id: int, ids: np.ndarray) -> Part:
        """One row of results (and answer, if any) per item of `ids`, in their order."""
        ...


class Scores(NamedTuple):
    """A probability rescore's merged results (`ProbaScorer.split`)."""

    proba: np.ndarray
    norms: np.ndarray | None = None  # the rows' L2 norms, if the scorer gave them
    scores: np.ndarray | None = None  # the strategy's scores, if the chunks scored it
    density: np.ndarray | None = None  # the pool's density, scaled, if it gave the raw


@dataclass
class ProbaScorer:
    """A probability model's chunk (single- and multi-label): `predict_proba` of the
    chunk's feature rows, read from only the shards they fall in.

    More columns after the probabilities, for the strategies that read the features,
    so the pool's rows are never gathered in one process: with `norms`, each row's L2
    norm (all that expected gradient length reads of them); with `density` (fitted by
    the retrain on a sample), each row's raw density, scaled once merged; with
    `strategy` (a `row_local` one), its score of each row, from the probabilities, the
    rows and the retrain's `committee` if it has one. `split` parts the columns again.
    """

    model: Any
    norms: bool = False
    strategy: str | None = None
    committee: list[Any] | None = None
    density: Density | None = None

    def score_ids(self, project_id: int, ids: np.ndarray) -> Part:
        return Part(self.score_rows(feature_store.features_rows(project_id, ids)))

    def score_rows(self, X: Matrix) -> np.ndarray:
        proba = np.asarray(self.model.predict_proba(X), dtype=np.float64)
        columns = [proba]
        if getattr(self, "norms", False):  # a scorer pickled before norms has none
            columns.append(row_norms(X)[:, None])
        density = getattr(self, "density", None)
        if density is not None:
            columns.append(density.raw(X)[:, None])
        strategy = getattr(self, "strategy", None)
        if strategy is not None:
            context = query.QueryContext(
                X_pool=X, model=self.model, proba=proba, committee=self.committee
            )
            columns.append(query.score(strategy, context)[:, None])
        return proba if len(columns) == 1 else np.hstack(columns)

    def _extra(self) -> list[str]:
        flags = (self.norms, self.density is not None, self.strategy is not None)
        return [name for name, on in zip(("norms", "density", "scores"), flags, strict=True) if on]

    def width(self, n_classes: int) -> int:
        return n_classes + len(self._extra())

    def split(self, rows: np.ndarray, n_classes: int) -> Scores:
        """The probabilities, and the norms, density and scores this scorer gives."""
        extra = {name: rows[:, n_classes + i] for i, name in enumerate(self._extra())}
        if "density" in extra:
            extra["density"] = scaled_density(extra["density"])
        return Scores(rows[:, :n_classes], **extra)
