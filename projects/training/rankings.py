"""Each model version's ranking of the whole pool, an artifact beside the model.

A retrain scores every unlabeled item (PRODUCT.md §2.4), but writes only the top
of the ranking to the item rows, where batches are picked from: rewriting every
row per retrain would cost a write per item and bloat the rows annotators claim.
The whole ranking (ids, scores, predictions, and the multi-label sets or spans behind
them, `predicted.py`) is kept here, one file per version, for the export's predictions
and for inspection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from projects import artifacts
from projects.models import ModelVersion, Project
from projects.training.predicted import PredictedAnswers, answers_load
from strategies._space import unique_sorted

# Versions kept on disk besides the newest done one: a retrain writes its file before
# its version is done, and an export may be reading the previous one meanwhile.
KEEP_OLDER = 1


@dataclass(frozen=True)
class Ranking:
    ids: np.ndarray  # sorted ascending
    scores: np.ndarray
    predictions: np.ndarray  # label code per item
    answers: PredictedAnswers | None = None  # multi-label sets or spans, per item

    def _positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each of `ids` sits in this ranking, and whether it is there at all."""
        if not len(self.ids):
            return np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=bool)
        at = np.searchsorted(self.ids, ids).clip(max=len(self.ids) - 1)
        return at, self.ids[at] == ids

    def predictions_of(self, ids: np.ndarray) -> np.ndarray:
        """The prediction of each of `ids`, -1 where this ranking did not score it."""
        at, found = self._positions(ids)
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        return np.where(found, self.predictions[at].astype(np.int64), -1)

    def answers_of(self, ids: np.ndarray) -> tuple[np.ndarray, PredictedAnswers | None]:
        """Which of `ids` this ranking scored, and their answers (rows of the found ones)."""
        at, found = self._positions(ids)
        if self.answers is None:
            return np.zeros(len(ids), dtype=bool), None
        return found, self.answers.take(at[found])


def _ranking_dir(project_id: int) -> str:
    return f"models/project_{project_id}"


def ranking_name(project_id: int, version: int) -> str:
    return f"{_ranking_dir(project_id)}/scores_v{version}.npz"


def ranking_save(
    project_id: int,
    version: int,
    ids: np.ndarray,
    scores: np.ndarray,
    predictions: np.ndarray,
    answers: PredictedAnswers | None = None,
) -> None:
    """Write a version's whole ranking atomically (a reader never sees half a file)."""
    in_order = len(ids) < 2 or bool((ids[1:] > ids[:-1]).all())  # a snapshot's: sorted
    order = slice(None) if in_order else np.argsort(ids, kind="stable")
    arrays = {
        "ids": ids[order].astype(np.int64),
        "scores": scores[order].astype(np.float64),
        "predictions": predictions[order].astype(np.int16),
        **({} if answers is None else _in_order(answers, order).arrays()),
    }
    with artifacts.artifact_writer(ranking_name(project_id, version)) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]


def _in_order(answers: PredictedAnswers, order: slice | np.ndarray) -> PredictedAnswers:
    return answers if isinstance(order, slice) else answers.take(order)


def ranking_top(ids: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` best: score descending, ties by id (`RANKING_ORDER`), in order.

    `np.lexsort((ids, -scores))[:n]`, without sorting the whole pool: a partition finds
    the n-th best score, and only the items at least as good are sorted.
    """
    if n >= len(ids):
        return np.lexsort((ids, -scores))
    if n <= 0:
        return np.zeros(0, dtype=np.intp)
    negated = -np.asarray(scores, dtype=np.float64)
    nth = np.partition(negated, n - 1)[n - 1]
    candidates = np.flatnonzero(negated <= nth)
    if len(candidates) < n:  # NaN among the best n: the full sort's order, NaN last
        return np.lexsort((ids, negated))[:n]
    return candidates[np.lexsort((ids[candidates], negated[candidates]))[:n]]


def sorted_common(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`np.intersect1d(sorted_ids, values)` for sorted unique `sorted_ids` (a pool's ids),
    by binary search: no sort of the whole pool."""
    values = unique_sorted(np.asarray(values, dtype=np.int64))
    if not len(sorted_ids) or not len(values):
        return values[:0]
    at = np.searchsorted(sorted_ids, values).clip(max=len(sorted_ids) - 1)
    return values[sorted_ids[at] == values]


def ranking_load(project_id: int, version: int) -> Ranking | None:
    try:
        with artifacts.artifact_open(ranking_name(project_id, version)) as fh, np.load(fh) as data:
            ids = data["ids"]
            answers = answers_load(data, len(ids))
            return Ranking(ids, data["scores"], data["predictions"], answers)
    except FileNotFoundError:  # versions trained before rankings were kept
        return None


def rankings_of_item(project: Project, item_id: int) -> list[tuple[int, float, int]]:
    """(version, score, prediction code) of one item in each kept ranking, newest first.

    Only the files `rankings_prune` keeps exist, so older versions are not listed.
    """
    done = ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
    found = []
    for version in done.order_by("-version").values_list("version", flat=True)[: KEEP_OLDER + 1]:
        ranking = ranking_load(project.pk, version)
        if ranking is None or not len(ranking.ids):
            continue
        at = int(np.searchsorted(ranking.ids, item_id))
        if at < len(ranking.ids) and ranking.ids[at] == item_id:
            found.append((version, float(ranking.scores[at]), int(ranking.predictions[at])))
    return found


def ranking_latest(project: Project) -> Ranking | None:
    """The ranking of the newest done model version, if its file exists."""
    version = (
        ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    return None if version is None else ranking_load(project.pk, version)


def rankings_prune(project: Project) -> None:
    """Remove files of versions older than the newest done one (and KEEP_OLDER before it).

    Only the newest done version's file is read; one file is ~2 MB per 100k items.
    """
    done = ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
    versions = list(done.order_by("-version").values_list("version", flat=True)[: KEEP_OLDER + 1])
    if not versions:
        return
    oldest_kept = versions[-1]
    for name in artifacts.artifact_names(_ranking_dir(project.pk)):
        stem = name.rsplit("/", 1)[-1]
        if not (stem.startswith("scores_v") and stem.endswith(".npz")):
            continue
        if int(stem.removeprefix("scores_v").removesuffix(".npz")) < oldest_kept:
            artifacts.artifact_delete(name)
