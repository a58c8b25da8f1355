"""The chunked rescore: the pool scored by every free worker at once.

A retrain over more unlabeled items than its chunk size (WINNOW_RESCORE_CHUNK_ITEMS for
probability models, WINNOW_SPAN_SCORE_SENTENCES for span projects) splits them (sorted
by id) into row ranges, records one `RescoreChunk` per range and sends one
`tasks.rescore_chunk` message each but the first (acks_late). The retrain claims chunk 0
itself, then others, so with one worker it does them all; with more, each free worker
takes some. A chunk whose worker died is claimed again once its claim is stale (by the
retrain, which waits for every chunk, or by a redelivered message), so a dead worker
delays, never loses.

What a chunk computes is its kind's `ChunkScorer`, stored (pickled) as the attempt's
model file for any worker to load: `ProbaScorer` (single- and multi-label) gives the
rows' probabilities and, for a row-local strategy, its scores (a row's score depends on
that row alone); any other strategy scores the merged probabilities in one pass (random
and density weighting look at the whole pool), so the ranking is the single pass's,
whatever the strategy; `spans.SpanChunkScorer` scores its sentences, which depend on
no other sentence, and gives their predicted spans too (`Part.answers`, merged with
each chunk's rows offset by its start, as one pass merges its passes). A chunk's result
is the same bits whichever worker scores it.

Everything is keyed by (version, attempt): a chunk whose retrain attempt no longer holds
its version (taken for dead and claimed again) is dropped unscored, and its results,
if any, are never read: the new attempt has chunks of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from projects import artifacts, tasks
from projects.models import ModelVersion
from projects.pool.features import Matrix, row_block
from projects.rescore_chunk import RescoreChunk
from projects.training.predicted import PredictedAnswers, answers_joined, answers_load
from projects.training.scorers import ChunkScorer, Here, Part, ProbaScorer, Scores
from projects.training.services import Superseded, heartbeat_stale
from winnow.broker import task_send

log = logging.getLogger(__name__)
Status = RescoreChunk.Status
# Polls for the others' chunks: every WAIT_SECONDS for WAIT_POLLS_OFTEN polls while none
# finishes (the last chunk is read that much sooner; a chunk takes about 0.1 s), then
# less and less often (a dead worker's chunk waits for its claim to go stale).
WAIT_SECONDS = 0.01
WAIT_POLLS_OFTEN = 50
WAIT_LONGEST = 0.25


@dataclass
class Rescore:
    """A rescore whose chunks other workers may be scoring already (`rescore_started`)."""

    version: ModelVersion
    attempt: int
    scorer: ChunkScorer
    count: int  # chunks recorded; 0: one pass, here
    scored_here: int = 0  # of them, by this worker (the rest by others)
    # Where this worker's time went: sharing the work out, scoring its chunks, waiting
    # for others', reading them.
    spent: dict[str, float] = field(default_factory=dict)

    def results(self, n_rows: int, width: int, here: Here) -> Part:
        """The merged results of all `n_rows` rows (`width` columns), this process
        scoring its share through `here`."""
        if n_rows == 0:
            return Part(np.zeros((0, width)))
        if not self.count:
            return here(0, n_rows)
        own: set[int] = set()
        merged = _collect(self.version, self.attempt, here, self.count, n_rows, own, self.spent)
        self.scored_here = len(own)
        return merged

    def proba(self, ids: np.ndarray, n_classes: int, X: Matrix | None = None) -> Scores:
        """The probabilities of items `ids` (the scored ids), and what else the scorer
        gives (`ProbaScorer`): this process's share from `X`, their rows if it holds
        them, else read chunk by chunk from the store as other workers do (a huge pool's
        rows are never in one matrix here)."""
        scorer = self.scorer
        assert isinstance(scorer, ProbaScorer)
        project_id = self.version.project_id
        here = (
            _rows_here(scorer, X)
            if X is not None
            else lambda start, stop: scorer.score_ids(project_id, ids[start:stop])
        )
        return scorer.split(self.results(len(ids), scorer.width(n_classes), here).rows, n_classes)

    def timings_note(self, timings: dict[str, float]) -> None:
        """How the work was shared, beside its time."""
        if self.count:
            timings["score_chunks"] = self.count
            timings["score_chunks_elsewhere"] = self.count - self.scored_here
            timings.update({f"score_{k}": round(v, 4) for k, v in self.spent.items()})


@contextmanager
def rescore_started(
    *,
    version: ModelVersion,
    attempt: int,
    ids: np.ndarray,
    model: Any = None,
    scorer: ChunkScorer | None = None,
    size: int | None = None,
) -> Iterator[Rescore]:
    """Record the chunks of a large pool and send them out before the retrain has the
    rows: other workers score from their own cache while it takes its copy of the pool's
    rows (`classify_steps`), then it scores what is left. `scorer` (else `model`'s
    probabilities) is what each chunk runs; `size` rows per chunk (else
    WINNOW_RESCORE_CHUNK_ITEMS). Chunk rows and artifacts go at the end, whatever
    happened."""
    scorer = ProbaScorer(model) if scorer is None else scorer
    size = settings.WINNOW_RESCORE_CHUNK_ITEMS if size is None else size
    if len(ids) <= size:
        yield Rescore(version, attempt, scorer, 0)
        return
    started = time.perf_counter()
    for earlier in range(1, attempt):  # a dead attempt's chunks, if it got that far
        _cleanup(version, earlier)
    with artifacts.artifact_writer(_ids_name(version, attempt)) as fh:
        np.save(fh, np.asarray(ids, np.int64))
    with artifacts.artifact_writer(_model_name(version, attempt)) as fh:
        joblib.dump(scorer, fh)  # the model alone: the model file carries the representation
    bounds = range(0, len(ids), size)
    try:
        RescoreChunk.objects.bulk_create(
            RescoreChunk(version=version, attempt=attempt, index=i, start=s, stop=s + size)
            for i, s in enumerate(bounds)
        )
        mine = RescoreChunk.objects.filter(version=version, attempt=attempt).order_by("index")
        for chunk_id in mine.values_list("pk", flat=True)[1:]:  # the first is this worker's
            task_send(tasks.rescore_chunk, chunk_id)
        # What sharing the work costs before any chunk is scored: the ids, the pickled
        # scorer, the chunk rows and their messages.
        setup = {"setup": time.perf_counter() - started}
        yield Rescore(version, attempt, scorer, len(bounds), spent=setup)
    finally:
        _cleanup(version, attempt)


def _rows_here(scorer: ProbaScorer, X: Matrix) -> Here:
    return lambda start, stop: Part(scorer.score_rows(row_block(X, start, stop)))


def _gather(
    version: ModelVersion,
    attempt: int,
    model: Any,
    X: Matrix,
    count: int,
) -> np.ndarray:
    """`model`'s probabilities of rows `X`, chunk by chunk (`_collect`)."""
    here = _rows_here(ProbaScorer(model), X)
    return _collect(version, attempt, here, count, X.shape[0]).rows


def _collect(
    version: ModelVersion,
    attempt: int,
    here: Here,
    count: int,
    n_rows: int,
    own: set[int] | None = None,
    spent: dict[str, float] | None = None,
) -> Part:
    """Claim and score chunks here (their indexes into `own`) until none is left, chunk 0
    first (no message was sent for it); after each, read the others' that have finished,
    then wait for those still held elsewhere. Reading as they finish, not once this
    process has no chunk left to claim, leaves fewer to read at the end, when the others
    have nothing left to do; and it claims fewer here, so they score more. Each chunk's
    rows go straight into one array of the `n_rows` results, as they are scored or read:
    no list of parts and copy of them all (hundreds of megabytes at ten million items).
    The chunks' answers are joined, each offset by its chunk's start."""
    own = set() if own is None else own
    spent = {} if spent is None else spent
    clock = dict.fromkeys(("here", "waited", "read"), 0.0)
    mine = RescoreChunk.objects.filter(version=version, attempt=attempt)
    merged = _Merged(n_rows)
    read: set[int] = set()
    first = True
    idle_polls = 0
    while len(own) + len(read) < count:
        t = time.perf_counter()
        chunk = _claim(mine.filter(index=0)) if first else None
        chunk = chunk or _claim(mine, last_first=True)
        first = False
        if chunk is not None:
            part = here(chunk.start, chunk.stop)
            merged.put(chunk, part)
            own.add(chunk.index)
            _done(chunk, part, store=False)
            clock["here"] += time.perf_counter() - t
            t = time.perf_counter()
            if len(own) + len(read) == count:
                break
        done = mine.filter(status=Status.DONE).exclude(index__in=own | read).order_by("index")
        for finished in done:
            merged.put(finished, _result_load(finished))
            read.add(finished.index)
            idle_polls = 0
        clock["read"] += time.perf_counter() - t
        if chunk is not None or len(own) + len(read) == count:
            continue
        t = time.perf_counter()
        if not _holds(version.pk, attempt):
            raise Superseded(f"retrain {version.pk} attempt {attempt}")
        slower = max(0, idle_polls - WAIT_POLLS_OFTEN + 1)
        time.sleep(min(WAIT_SECONDS * 2**slower, WAIT_LONGEST))
        idle_polls += 1
        clock["waited"] += time.perf_counter() - t
    spent.update(clock)
    return merged.part()


class _Merged:
    """The results of a chunked rescore, filled chunk by chunk in any order."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.rows: np.ndarray | None = None
        self.answers: dict[int, tuple[int, PredictedAnswers | None]] = {}
        self.filled = 0

    def put(self, chunk: RescoreChunk, part: Part) -> None:
        if self.rows is None:
            self.rows = np.empty((self.n_rows, *part.rows.shape[1:]), dtype=part.rows.dtype)
        self.rows[chunk.start : chunk.start + len(part.rows)] = part.rows
        self.answers[chunk.index] = (chunk.start, part.answers)
        self.filled += len(part.rows)

    def part(self) -> Part:
        if self.rows is None or self.filled != self.n_rows:
            raise ValueError(f"the chunks gave {self.filled} rows of {self.n_rows}")
        ordered = [self.answers[index] for index in sorted(self.answers)]
        answers = [a for _, a in ordered if a is not None]
        if not answers:
            return Part(self.rows)
        if len(answers) != len(ordered):
            raise ValueError("chunks of one rescore answer alike")
        starts = [start for start, _ in ordered]
        return Part(self.rows, answers_joined(answers, starts, self.n_rows))


def _claim(chunks: Any, *, last_first: bool = False) -> RescoreChunk | None:
    """Take one pending chunk, or one whose holder's claim went stale (it died).

    The retrain takes them from the last while the messages hand them out from the
    first, so the two meet in the middle rather than contend for the same chunk.
    """
    stale = timezone.now() - heartbeat_stale()
    claimable = Q(status=Status.PENDING) | Q(status=Status.RUNNING, claimed_at__lt=stale)
    order = "-index" if last_first else "index"
    for chunk in chunks.filter(claimable).order_by(order)[:4]:
        taken = RescoreChunk.objects.filter(claimable, pk=chunk.pk, claims=chunk.claims).update(
            status=Status.RUNNING, claimed_at=timezone.now(), claims=F("claims") + 1
        )
        if taken:
            chunk.claims += 1
            return chunk  # type: ignore[no-any-return]
    return None


def _holds(version_id: int, attempt: int) -> bool:
    """Whether `attempt` still holds the version (not taken for dead and claimed again)."""
    return ModelVersion.objects.filter(
        pk=version_id, status=ModelVersion.Status.RUNNING, attempts=attempt
    ).exists()


def _done(chunk: RescoreChunk, result: Part, *, store: bool) -> None:
    """Record the chunk done; its result goes to the store if another process reads it."""
    if store:
        _result_save(chunk, result)
    RescoreChunk.objects.filter(pk=chunk.pk, claims=chunk.claims).update(status=Status.DONE)


def chunk_score(*, chunk_id: int) -> bool:
    """Score one chunk in this worker (the task's body); False if there was nothing to do.

    Dropped unscored when its retrain attempt lost the version; its result is not
    recorded if that happens while it scores.
    """
    chunk = _claim(RescoreChunk.objects.filter(pk=chunk_id).select_related("version"))
    if chunk is None:
        return False
    version = chunk.version
    log.info("rescore chunk %s of version %s: claimed", chunk.index, version.pk)
    if not _holds(version.pk, chunk.attempt):
        log.info("rescore chunk %s: attempt %s was superseded", chunk_id, chunk.attempt)
        return False
    started = time.perf_counter()
    ids = _ids(version, chunk.attempt)[chunk.start : chunk.stop]
    scorer = _scorer(version, chunk.attempt)
    loaded = time.perf_counter()
    result = scorer.score_ids(version.project_id, ids)  # reads only this chunk's rows
    log.info(
        "rescore chunk %s of version %s: model %.2f s, rows read and scored %.2f s",
        chunk.index,
        version.pk,
        loaded - started,
        time.perf_counter() - loaded,
    )
    if not _holds(version.pk, chunk.attempt):
        return False
    _done(chunk, result, store=True)
    return True


# -- artifacts: the scored ids (written once per attempt) and each chunk's result ---------


def _prefix(version: ModelVersion, attempt: int) -> str:
    return f"models/project_{version.project_id}/rescore_v{version.version}_a{attempt}"


def _ids_name(version: ModelVersion, attempt: int) -> str:
    return f"{_prefix(version, attempt)}/ids.npy"


def _model_name(version: ModelVersion, attempt: int) -> str:
    return f"{_prefix(version, attempt)}/model.joblib"


def _result_name(chunk: RescoreChunk, suffix: str = "npys") -> str:
    return f"{_prefix(chunk.version, chunk.attempt)}/chunk_{chunk.index}.{suffix}"


def _decode(name: str) -> np.ndarray:
    with artifacts.artifact_open(name) as fh:
        return np.asarray(np.load(fh))


def _result_save(chunk: RescoreChunk, part: Part) -> None:
    """A chunk's rows, and its answers as the ranking file keeps them (`predicted.py`):
    their names, then each array, as `.npy` one after another in one file. Not an `.npz`:
    its zip checksums the data when written and again when read, and reads each array
    through a copy (4 and 3 ms a chunk of 100,000 rows, against 1.6 and 0.5)."""
    answers = {} if part.answers is None else part.answers.arrays()
    arrays = {"rows": part.rows, **answers}
    with artifacts.artifact_writer(_result_name(chunk)) as fh:
        np.save(fh, np.array(list(arrays)))
        for values in arrays.values():
            np.save(fh, values)


def _result_load(chunk: RescoreChunk) -> Part:
    try:
        with artifacts.artifact_open(_result_name(chunk)) as fh:
            names = np.load(fh)
            data = {str(name): np.load(fh) for name in names}
    except FileNotFoundError:  # by a worker from before `_result_save`'s format
        with artifacts.artifact_open(_result_name(chunk, "npz")) as fh, np.load(fh) as npz:
            data = {name: npz[name] for name in npz.files}
    rows = data["rows"]
    return Part(rows, answers_load(data, len(rows)))


# One attempt's ids and model per process: a worker scoring several of its chunks reads
# them once. Keyed by attempt: a retry writes the version's model file again.
_LAST: dict[str, tuple[tuple[int, int], Any]] = {}


def _ids(version: ModelVersion, attempt: int) -> np.ndarray:
    return _remembered("ids", version, attempt, lambda: _decode(_ids_name(version, attempt)))


def _scorer(version: ModelVersion, attempt: int) -> ChunkScorer:
    def load() -> ChunkScorer:
        with artifacts.artifact_open(_model_name(version, attempt)) as fh:
            stored = joblib.load(fh)
        # A bare estimator: written by a worker from before scorers (a rolling upgrade).
        return stored if isinstance(stored, ChunkScorer) else ProbaScorer(stored)

    return _remembered("model", version, attempt, load)  # type: ignore[no-any-return]


def _remembered(kind: str, version: ModelVersion, attempt: int, load: Any) -> Any:
    key = (version.pk, attempt)
    cached = _LAST.get(kind)
    if cached is None or cached[0] != key:
        cached = (key, load())
        _LAST[kind] = cached
    return cached[1]


def _cleanup(version: ModelVersion, attempt: int) -> None:
    """The attempt's chunk rows and artifacts are of no use once merged (or given up)."""
    RescoreChunk.objects.filter(version=version, attempt=attempt).delete()
    artifacts.artifacts_delete_dir(_prefix(version, attempt))
