"""A project's pool as arrays: item ids, states, label codes, and its feature rows.

Everything the worker and the batch selector need is loaded with one query per
column set, then handled with numpy. The feature rows stay in their shards
(`features.FeatureTable`): a step reads the rows it needs (`PoolSnapshot.rows`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import F, Q, QuerySet

import winnow.db  # noqa: F401  (the any_of lookup)
from projects import item_images
from projects.models import Item, Project
from projects.pool import columns, embedders, feature_chunks, features
from projects.settings_schema import BUILTIN_EMBEDDER
from strategies import features as lib
from strategies._space import unique_sorted
from strategies.images import images_features

FEATURE_CHUNK = 20_000
# Texts a pool's vocabulary is fitted on, at most: every text of a smaller pool, else an
# evenly spaced sample by id (see `vocabulary_sample`).
VOCABULARY_SAMPLE = 200_000


@dataclass
class PoolSnapshot:
    ids: np.ndarray
    state: np.ndarray  # int8 codes: `in_state` compares them with states
    # Label code, -1 where the item has no final label; on multi-label projects 0 where
    # it has a final set, which `sets` holds; on span projects 0 where it has final spans
    # (the retrain's span steps read them with the texts, `training.spans`).
    label: np.ndarray
    holdout: np.ndarray
    table: features.FeatureTable | None  # None: no items
    sets: np.ndarray | None = None  # (items, labels) 0/1: multi-label projects only

    def rows(self, which: np.ndarray | slice) -> features.Matrix:
        """The feature rows of the items `which` selects (a mask over `ids`, or
        positions), in `ids` order: a copy of those rows only."""
        chosen = self.ids[which]
        if self.table is None:
            return np.zeros((len(chosen), 1))
        return self.table.rows(chosen)

    @cached_property
    def X(self) -> features.Matrix:
        """Every item's row: a copy of the whole pool's, for a replay (which fits on the
        labelled pool and scores it whole) and small pools; the retrain reads `rows`."""
        return self.rows(slice(None))

    @property
    def labeled(self) -> np.ndarray:
        return self.label >= 0

    @property
    def train(self) -> np.ndarray:
        return self.labeled & ~self.holdout

    @property
    def pool(self) -> np.ndarray:
        return self.in_state(Item.State.POOL) & ~self.holdout

    @property
    def unlabeled(self) -> np.ndarray:
        """What a retrain scores: the pool and the open batch, whose untouched items go back."""
        return self.in_state(Item.State.POOL, Item.State.QUEUED) & ~self.holdout

    def in_state(self, *states: str) -> np.ndarray:
        """A mask over `ids`: the items in one of `states`."""
        return np.isin(self.state, [columns.state_code(state) for state in states])


def label_sets(project: Project, ids: np.ndarray) -> np.ndarray:
    """Multi-label final sets as 0/1 rows over the labels, one per item of `ids` (all
    zeros where it has none: `columns.codes_query` says which have one)."""
    index = {name: i for i, name in enumerate(project.labels)}
    indicators = np.zeros((len(ids), len(project.labels)), dtype=np.int64)
    final = Item.objects.filter(project=project, labels__isnull=False).values_list("id", "labels")
    found = list(final)
    rows = np.searchsorted(ids, np.array([item for item, _ in found], dtype=np.int64))
    for row, (item, names) in zip(rows.tolist(), found, strict=True):
        if row < len(ids) and ids[row] == item:  # not an item added since `ids` were read
            indicators[row, [index[x] for x in names or () if x in index]] = 1
    return indicators


def pool_snapshot(project: Project) -> PoolSnapshot:
    multilabel = project.task == Project.Task.MULTILABEL
    ids, states, codes, holdout = columns.item_columns(project)
    if not len(ids):
        empty = np.zeros(0, dtype=np.int64)
        sets = np.zeros((0, len(project.labels)), dtype=np.int64) if multilabel else None
        return PoolSnapshot(empty, empty.astype(np.int8), empty, empty.astype(bool), None, sets)
    sets = label_sets(project, ids) if multilabel else None
    table = features_ready(project, ids)
    return PoolSnapshot(ids=ids, state=states, label=codes, holdout=holdout, table=table, sets=sets)


def features_ready(project: Project, ids: np.ndarray) -> features.FeatureTable:
    """The feature table covering `ids`, computing and storing rows that are missing.

    Many missing rows (a large import's) are split over every free worker
    (`feature_chunks`); what is left, or too few to split, is computed here.
    """
    table = features.features_load(project.pk)
    missing = ids if table is None else table.missing(ids)
    if len(missing) == 0 and table is not None:
        return table
    if project.kind != Project.Kind.VECTOR:
        rep = representation(project)
        table = features.features_load(project.pk)  # a vocabulary's fit stores its sample's rows
        missing = ids if table is None else table.missing(ids)
    else:
        rep = None
    if feature_chunks.features_split(project, unique_sorted(missing), rows_function):
        table = features.features_load(project.pk)
        missing = ids if table is None else table.missing(ids)
    for start in range(0, len(missing), FEATURE_CHUNK):
        chunk = missing[start : start + FEATURE_CHUNK]
        features.features_add(project.pk, chunk, compute_features(project, chunk, rep=rep))
    table = features.features_load(project.pk)
    assert table is not None
    return table


def rows_function(project: Project) -> Callable[[np.ndarray], features.Matrix]:
    """A function of item ids to their rows; the representation is read once."""
    rep = None if project.kind == Project.Kind.VECTOR else representation(project)
    return lambda ids: compute_features(project, ids, rep=rep)


def feature_chunk_compute(chunk_id: int) -> bool:
    """Compute one chunk of a split (`feature_chunks`): the task's body."""
    return feature_chunks.chunk_compute(chunk_id=chunk_id, rows=rows_function)


def compute_features(
    project: Project, ids: np.ndarray, *, rep: dict[str, Any] | None = None
) -> features.Matrix:
    """Features for items from their stored content, in the order of `ids`.

    `rep` is the project's representation when the caller has it: read once for many
    chunks, not once per chunk (a vocabulary is tens of megabytes).
    """
    if project.kind == Project.Kind.VECTOR:
        (vectors,) = item_columns(ids, "vector")
        return lib.vector_features(vectors)
    rep = representation(project) if rep is None else rep
    if project.kind == Project.Kind.IMAGE:
        (images,) = item_columns(ids, "image")
        if rep["kind"] == "embedder":
            return embedders.embed_images(rep["name"], _open_images(images))
        return image_features_from_files(images)
    if rep["kind"] == "own":
        texts, vectors = item_columns(ids, "text", "vector")
        return text_rows(rep, texts, vectors)
    (texts,) = item_columns(ids, "text")  # only what the rows are made of is read
    return text_rows(rep, texts)


def text_rows(
    rep: dict[str, Any], texts: list[str], vectors: Sequence[list[float] | None] | None = None
) -> features.Matrix:
    """Rows of a text project's items under its representation (see `representation`)."""
    kind = rep["kind"]
    if kind == "vocabulary":
        return rep["vectorizer"].transform(texts)
    if kind == "own":
        own = [v for v in vectors or [] if v is not None]
        if len(own) != len(texts):
            raise ValueError("this project trains on its own feature vectors: give features")
        return lib.vector_features(own)
    if kind == "embedder":
        return embedders.embed_texts(rep["name"], texts)
    return lib.text_features(texts)


def representation(project: Project, *, ids: np.ndarray | None = None) -> dict[str, Any]:
    """How the project's items become rows, chosen when its first rows are computed.

    Text: the server's embedder if the project names one; the items' own vectors if they
    came with `features`; hashed n-grams in stream mode (the pool is unknown) and for
    projects whose rows were hashed before vocabularies existed; otherwise (pool mode) a
    vocabulary TF-IDF fitted on every text imported so far (`strategies.features`), which
    later items are transformed with. Images: the embedder, or Pillow features. A pool
    over `VOCABULARY_SAMPLE` texts fits its vocabulary on an evenly spaced sample of them
    (`vocabulary_sample`), whose rows the fit stores as it goes. `ids`: every item id of
    the project, if the caller has just read them (a fit's sample is drawn from them).
    """
    stored = features.representation_load(project.pk)
    if stored is not None:
        return stored
    items = Item.objects.filter(project=project)
    rep: dict[str, Any]
    if project.embedder != BUILTIN_EMBEDDER:
        rep = {"kind": "embedder", "name": project.embedder}
    elif project.kind != Project.Kind.TEXT:
        rep = {"kind": "builtin"}
    elif (marks := _marks(items))[0]:
        rep = {"kind": "own"}
    elif (
        not items.exists()
        or features.features_load(project.pk) is not None
        or project.stream_budget is not None
        or marks[1]
    ):
        rep = {"kind": "hashing"}
    else:
        # One fit: a second worker (the import's pool_prepare beside the first retrain)
        # waits for it and reads what it stored, rather than fitting on the other core.
        with transaction.atomic():
            feature_chunks.features_lock(project.pk)
            stored = features.representation_load(project.pk)
            if stored is not None:
                return stored
            return _vocabulary_fit(project, ids)
    return features.representation_save_once(project.pk, rep)


def _marks(items: QuerySet[Item]) -> tuple[bool, bool]:
    """Whether any of `items` brought its own vector, and whether any came by stream.

    An import's items usually did neither, which only a look at every one of them shows:
    one pass for both (a tenth of a second per million items), then one for each only if
    it found something.
    """
    if not items.filter(Q(vector__isnull=False) | Q(from_stream=True)).exists():
        return False, False
    return items.filter(vector__isnull=False).exists(), items.filter(from_stream=True).exists()


def _vocabulary_fit(project: Project, ids: np.ndarray | None = None) -> dict[str, Any]:
    """Fit the pool's vocabulary; fitted on every text, store their rows too, which the
    fit computes anyway (`TextVectorizer.fit_transform`): they are not computed again.

    A sample's rows are not made: a pool that large is split into id ranges
    (`feature_chunks`), which compute every row of their range anyway.
    """
    ids, texts = vocabulary_sample(project, ids=ids)
    vectorizer = lib.TextVectorizer()
    rows = None
    if len(ids) == Item.objects.filter(project=project).count():
        rows = vectorizer.fit_transform(texts)
    else:
        vectorizer.fit(texts)
    del texts
    rep = {"kind": "vocabulary", "vectorizer": vectorizer}
    if not features.representation_create_once(project.pk, rep):
        stored = features.representation_load(project.pk)  # another fit won: its rows
        assert stored is not None
        return stored
    if rows is not None:
        features.features_add(project.pk, ids, rows)
    return rep


def vocabulary_sample(
    project: Project, limit: int | None = None, *, ids: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """The ids and texts a pool-mode vocabulary is fitted on: all of a pool of at most `limit`
    (default `VOCABULARY_SAMPLE`) items, else every ⌈n / limit⌉-th item by id.

    Why a sample: a million texts held as Python strings to fit one vocabulary cost
    gigabytes at ten million, and the fit's time grows with them. What the sample changes
    is small: a term that is in the vocabulary (at least 2 of the sample's texts, the
    `MAX_VOCABULARY` most frequent) is one at least ~1 in 100,000 of the pool's texts use,
    and the idf of such a term is estimated from the sample's document frequency (its
    relative error ~ 1 / sqrt(df)); rarer terms carry little weight in a linear model.
    The spacing by id spreads the sample over every import. Ids are read as one numpy
    array and only the sample's texts as strings, so no step holds the pool's text.
    """
    limit = VOCABULARY_SAMPLE if limit is None else limit
    ids = candidate_ids_all(project) if ids is None else ids  # `ids`: all of them, read
    if len(ids) > limit:
        ids = ids[:: -(-len(ids) // limit)]
    by_id = item_values(ids, "text")  # as a few spaced runs: one scan, not an id list
    return ids, [by_id[i][0] for i in ids.tolist()]


def item_columns(ids: np.ndarray, *fields: str) -> tuple[list[Any], ...]:
    """The `fields` of items `ids` as one list per field, in the order of `ids`."""
    by_id = item_values(ids, *fields)
    rows = [by_id[i] for i in ids.tolist()]
    return tuple(list(col) for col in zip(*rows, strict=True)) if rows else ([],) * len(fields)


def item_values(ids: np.ndarray, *fields: str) -> dict[int, tuple[Any, ...]]:
    """The `fields` of items `ids`, by id.

    An import's ids are dense: they are read as one id range (other projects' rows in
    it skipped), not as a list of every id, which the ORM prepares one by one (a tenth
    of a large import's featurisation). Evenly spaced ids (a vocabulary's sample, every
    k-th of an import) are read as runs (`_spaced_runs`); what is left goes by its list,
    as one array on PostgreSQL (`winnow.db.AnyOf`).
    """
    if not len(ids):
        return {}
    low, high = int(ids.min()), int(ids.max())
    if high - low < 2 * len(ids):
        wanted = set(ids.tolist())
        rows = Item.objects.filter(pk__gte=low, pk__lte=high).values_list("id", *fields)
        return {row[0]: row[1:] for row in rows if row[0] in wanted}
    ordered = unique_sorted(ids)
    found: dict[int, tuple[Any, ...]] = {}
    left = np.ones(len(ordered), dtype=bool)
    for start, stop in _spaced_runs(ordered):
        first, last = int(ordered[start]), int(ordered[stop - 1])
        gap = int(ordered[start + 1] - ordered[start])
        rows = (
            Item.objects.filter(pk__gte=first, pk__lte=last)
            .alias(phase=F("id") % gap)
            .filter(phase=first % gap)
            .values_list("id", *fields)
        )
        found.update((row[0], row[1:]) for row in rows)
        left[start:stop] = False
    if left.any():
        rows = Item.objects.filter(pk__any_of=ordered[left].tolist()).values_list("id", *fields)
        found.update((row[0], row[1:]) for row in rows)
    return found


# A run read as its range filtered by `id % gap` scans `gap` rows for each it returns: on
# a 1M pool that beat one index probe per id at every gap measured, the gain shrinking
# with it (a 200k sample, gap 5: 0.22 s against 0.80 s; 25k ids, gap 40: 0.10 s against
# 0.15 s). Runs shorter than SPACED_RUN go by list.
SPACED_GAP = 32
SPACED_RUN = 256


def _spaced_runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """Slices `ids[start:stop]` (sorted, unique) of at least SPACED_RUN ids a constant
    gap of at most SPACED_GAP apart: every id in such a run's range at that spacing is one
    of them, so the range filtered by the spacing reads exactly them."""
    if len(ids) < SPACED_RUN:
        return []
    gaps = np.diff(ids)
    change = np.flatnonzero(gaps[1:] != gaps[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(gaps)]]) + 1  # the run's last id is its gap's end
    keep = (stops - starts >= SPACED_RUN) & (gaps[starts] <= SPACED_GAP)
    return list(zip(starts[keep].tolist(), stops[keep].tolist(), strict=True))


def _open_images(paths: list[str]) -> list[Any]:
    from PIL import Image

    images = []
    for path in paths:
        with Image.open(io.BytesIO(item_images.image_read(path))) as img:
            img.load()
            images.append(img)
    return images


def image_features_from_files(paths: list[str]) -> np.ndarray:
    return images_features(_open_images(paths))


def candidate_ids_all(project: Project) -> np.ndarray:
    """Every item id of the project, in id order."""
    return columns.item_ids(project)
