"""Per-project feature store: features are computed once per item and kept as shards.

Rows live in append-only shards (`.npz`) in the artifact store (`projects.artifacts`),
each with the item ids it covers. A shard is written whole under a new name, so
concurrent workers never see half a shard; a row stored twice (two workers featurising
the same new items) is read from the first shard that has it. Each worker keeps every
shard it read in its own cache, memory-mapped (`feature_cache`), keyed by the shard's
name, which is never reused.

The shards are never merged into one matrix: a `FeatureTable` gathers the rows asked
for from the shards they are in, so reading the labelled rows, a rescore chunk's or a
shortlist's costs those rows, not the pool's (a ten-million-item pool's rows are
gigabytes; copies of them were what a worker's memory grew with). A shard's name
carries its first and last id, so a rescore chunk reads only the shards it needs
(`features_rows`).
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import IO, Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from projects import artifacts
from projects.pool import feature_cache
from strategies._space import unique_sorted

Matrix: TypeAlias = feature_cache.Matrix
Shard: TypeAlias = tuple[np.ndarray, Matrix]  # sorted item ids, one row each

# Stream mode adds a shard per few arrivals: past this many small shards (under
# COMPACT_ROWS rows each), they are merged into one. Large shards (an import's) stay.
COMPACT_AFTER_SHARDS = 16
COMPACT_ROWS = 20_000


@dataclass(frozen=True)
class FeatureTable:
    """Stored rows shard by shard (sorted by first id), gathered on request."""

    shards: tuple[Shard, ...]

    @cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The sorted unique ids; where each one's row is among the shards laid end to
        end (None: in that order, the usual case of shards that do not overlap); and
        where each shard starts."""
        sizes = [len(ids) for ids, _ in self.shards]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if not self.shards:
            return np.zeros(0, dtype=np.int64), None, starts
        flat = np.concatenate([ids for ids, _ in self.shards]).astype(np.int64, copy=False)
        if len(flat) < 2 or bool((flat[1:] > flat[:-1]).all()):
            return flat, None, starts
        ids, first = np.unique(flat, return_index=True)  # a row stored twice: once
        return ids, first, starts

    @property
    def ids(self) -> np.ndarray:
        return self._index[0]

    @cached_property
    def X(self) -> Matrix:
        """Every row, in id order: a copy of the whole table, for small pools and tests;
        the loop asks `rows` for the rows it needs."""
        return self.rows(self.ids)

    def rows(self, item_ids: np.ndarray, *, view: bool = False) -> Matrix:
        """Rows for `item_ids` (all must be present), in that order: a copy of those rows,
        each shard's taken in one slice or fancy index. With `view`, rows that lie in
        one run of one shard are that run, not a copy (read-only where the shard is
        memory-mapped): a rescore chunk's rows, read once and dropped."""
        ids, where, starts = self._index
        item_ids = np.asarray(item_ids, dtype=np.int64)
        at = np.searchsorted(ids, item_ids)
        if where is not None:
            at = where[at]
        order = None
        if len(at) > 1 and not bool((at[1:] >= at[:-1]).all()):
            order = np.argsort(at, kind="stable")
            at = at[order]
        bounds = np.searchsorted(at, starts)
        blocks: list[Matrix] = []
        for s, (_, X) in enumerate(self.shards):
            local = at[bounds[s] : bounds[s + 1]] - starts[s]
            if not len(local):
                continue
            first, last = int(local[0]), int(local[-1])
            contiguous = last - first + 1 == len(local)
            blocks.append(row_block(X, first, last + 1) if contiguous else X[local])
        if view and order is None and len(blocks) == 1:
            return blocks[0]
        stacked = _stack(blocks or [self.shards[0][1][:0] if self.shards else np.zeros((0, 1))])
        if order is None:
            return stacked
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return stacked[back]

    def missing(self, item_ids: np.ndarray) -> np.ndarray:
        """The ids of `item_ids` without a row, sorted and unique.

        A binary search in the sorted `ids`: a set difference sorted the whole pool's ids
        again on every retrain (a tenth of its snapshot's time at 100k items).
        """
        ids = self.ids
        if not len(ids):
            return unique_sorted(item_ids)
        at = np.searchsorted(ids, item_ids).clip(max=len(ids) - 1)
        return unique_sorted(item_ids[ids[at] != item_ids])


def table_of(shards: list[Shard]) -> FeatureTable:
    """The table of `shards`, in order of their first ids (empty ones left out)."""
    kept = sorted((p for p in shards if len(p[0])), key=lambda p: int(p[0][0]))
    return FeatureTable(tuple(kept))


def _project_dir(project_id: int) -> str:
    return f"features/project_{project_id}"


def _save(name: str, ids: np.ndarray, X: Matrix) -> None:
    """A shard written straight to the store's file (`artifacts.artifact_writer`)."""
    with artifacts.artifact_writer(name) as fh:
        _encode(fh, ids, X)


def _encode(fh: IO[bytes], ids: np.ndarray, X: Matrix) -> None:
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        np.savez(
            fh,
            ids=ids,
            data=X.data,
            indices=X.indices,
            indptr=X.indptr,
            shape=np.array(X.shape),
            sparse=np.array(True),
        )
    else:
        np.savez(fh, ids=ids, dense=np.asarray(X, dtype=np.float32), sparse=np.array(False))


def _read(name: str) -> Shard:
    with artifacts.artifact_open(name) as fh, np.load(fh) as npz:
        ids = npz["ids"]
        if bool(npz["sparse"]):
            shape = tuple(int(v) for v in npz["shape"])
            return ids, sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]), shape=shape)
        return ids, npz["dense"]


def row_block(X: Matrix, start: int, stop: int) -> Matrix:
    """Rows `start:stop` of `X` as a view: slicing a CSR matrix copies its rows, and the
    model (or a stack of blocks) then copies them again.

    The arrays are set on an empty matrix of the block's shape: scipy's constructor
    copies any array that is a small view of a larger one (`prune`), which a chunk's
    rows always are (36 MB and 5-10 ms per 100,000 rows of 30 terms)."""
    if not isinstance(X, sp.csr_matrix):
        return X[start:stop]
    stop = min(stop, X.shape[0])
    first, last = int(X.indptr[start]), int(X.indptr[stop])
    block = sp.csr_matrix((stop - start, X.shape[1]), dtype=X.dtype)
    block.indptr = X.indptr[start : stop + 1] - X.indptr.dtype.type(first)
    block.indices = X.indices[first:last]
    block.data = X.data[first:last]
    return block


def _stack(blocks: list[Matrix]) -> Matrix:
    if any(sp.issparse(b) for b in blocks):
        return sp.vstack([sp.csr_matrix(b) for b in blocks], format="csr")
    return np.vstack(blocks)


def features_add(project_id: int, ids: np.ndarray, X: Matrix) -> None:
    """Append rows for new items as a shard of their own (a new, never reused name)."""
    if len(ids) == 0:
        return
    order = np.argsort(ids)
    ids = np.asarray(ids)[order]
    _save(_shard_name(project_id, ids), ids, X[order])


def _shard_name(project_id: int, ids: np.ndarray) -> str:
    """A new shard's name: its first and last item id (so a rescore chunk reads only the
    shards its ids fall in, `features_rows`), then a part never used again."""
    span = f"{int(ids[0])}-{int(ids[-1])}"
    return f"{_project_dir(project_id)}/shard-{span}-{uuid.uuid4().hex}.npz"


def _shard_span(name: str) -> tuple[int, int] | None:
    """The first and last item id of shard `name`; None if its name does not say (one
    stored before names carried them: it has to be read)."""
    parts = name.rsplit("/", 1)[-1].removesuffix(".npz").split("-")
    return (int(parts[1]), int(parts[2])) if len(parts) == 4 else None


def _shard_names(project_id: int) -> tuple[str, ...]:
    names = artifacts.artifact_names(_project_dir(project_id))
    return tuple(n for n in names if n.rsplit("/", 1)[-1].startswith("shard-"))


def features_load(project_id: int) -> FeatureTable | None:
    """Every stored row of a project (as shards, gathered on request), or None if none.

    Shards are immutable and uniquely named, so their names are the table's version:
    the same names are answered from this process's memory; each shard is read from the
    store once per worker, then memory-mapped from its cache (`_shard`).
    """
    for _attempt in range(3):
        names = _shard_names(project_id)
        if not names:
            return None
        cached = _LOADED.get(project_id)
        if cached is not None and cached[0] == names:
            return cached[1]
        feature_cache.shards_keep(project_id, names)
        try:
            loaded = [(n, _shard(project_id, n)) for n in names]
            if _compact(project_id, loaded):
                continue
        except FileNotFoundError:  # a concurrent compaction replaced the shards
            continue
        table = table_of([shard for _, shard in loaded])
        _remember(project_id, names, table)
        return table
    raise RuntimeError(f"Feature shards of project {project_id} kept changing while loading.")


def features_rows(project_id: int, item_ids: np.ndarray) -> Matrix:
    """Rows for `item_ids` (sorted, all stored), in that order: a rescore chunk's, read,
    scored and dropped, so rows that lie in one run of one shard are not copied.

    From the table this process has at hand if it is current (it retrained); else from
    only the shards the ids fall in: a worker that only scores chunks never reads or
    caches the shards of other chunks.
    """
    for _attempt in range(3):
        names = _shard_names(project_id)
        cached = _LOADED.get(project_id)
        if names and cached is not None and cached[0] == names:
            return cached[1].rows(item_ids, view=True)
        feature_cache.shards_keep(project_id, names)
        low, high = int(item_ids[0]), int(item_ids[-1])
        try:
            table = table_of([_shard(project_id, n) for n in names if _meets(n, low, high)])
        except FileNotFoundError:  # a concurrent compaction replaced the shards
            continue
        if len(table.missing(item_ids)):
            raise LookupError(f"project {project_id} has no stored rows for items {low}-{high}")
        return table.rows(item_ids, view=True)
    raise RuntimeError(f"Feature shards of project {project_id} kept changing while loading.")


def _meets(name: str, low: int, high: int) -> bool:
    span = _shard_span(name)
    return span is None or (span[0] <= high and low <= span[1])


def _shard(project_id: int, name: str) -> Shard:
    """Shard `name` from this worker's cache; read from the store and cached the first time."""
    directory = feature_cache.shard_dir(project_id, name)
    mapped = feature_cache.arrays_map(directory)
    if mapped is None:
        ids, X = _read(name)
        feature_cache.arrays_write(directory, ids, X)
        mapped = feature_cache.arrays_map(directory) or (ids, X)
    return mapped


# The last table loaded per project, keyed by its shard names (immutable and uniquely
# named, so the same names mean the same rows): the worker reads the table to retrain
# and again, moments later, to pick the next batch under the project's lock.
_LOADED: dict[int, tuple[tuple[str, ...], FeatureTable]] = {}
_LOADED_PROJECTS = 2


def _remember(project_id: int, names: tuple[str, ...], table: FeatureTable) -> None:
    _LOADED.pop(project_id, None)
    while len(_LOADED) >= _LOADED_PROJECTS:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[project_id] = (names, table)


def _compact(project_id: int, loaded: list[tuple[str, Shard]]) -> bool:
    """Merge many small shards (stream mode) into one, if there are more than
    COMPACT_AFTER_SHARDS of them; True if it did. Readers retry on a vanished one."""
    small = [(name, shard) for name, shard in loaded if len(shard[0]) < COMPACT_ROWS]
    if len(small) <= COMPACT_AFTER_SHARDS:
        return False
    merged = table_of([shard for _, shard in small])
    _save(_shard_name(project_id, merged.ids), merged.ids, merged.X)
    for name, _ in small:
        artifacts.artifact_delete(name)
    return True


def features_delete(project_id: int) -> None:
    for name in _shard_names(project_id):
        artifacts.artifact_delete(name)
    _LOADED.pop(project_id, None)
    feature_cache.drop(project_id)


# -- how a project's items become rows -------------------------------------------------
# Chosen once per project, when its first rows are computed, and kept beside the shards:
# every row of a project must come from the same representation.

REPRESENTATION_FILE = "representation.joblib"


def representation_name(project_id: int) -> str:
    """The representation's name in the artifact store (model files copy it once)."""
    return f"{_project_dir(project_id)}/{REPRESENTATION_FILE}"


def representation_load(project_id: int) -> dict[str, Any] | None:
    """The project's stored representation (``{"kind", ...}``), or None if none yet."""
    try:
        loaded: dict[str, Any] = artifacts.artifact_unpickle(representation_name(project_id))
    except FileNotFoundError:
        return None
    return loaded


def representation_save_once(project_id: int, representation: dict[str, Any]) -> dict[str, Any]:
    """Store ``representation`` unless one exists; return whichever is stored."""
    stored: dict[str, Any] = _save_once(project_id, REPRESENTATION_FILE, representation)
    return stored


def representation_create_once(project_id: int, representation: dict[str, Any]) -> bool:
    """Store ``representation`` unless one exists; True if this call stored it."""
    return _create_once(project_id, REPRESENTATION_FILE, representation)


def _create_once(project_id: int, file: str, value: Any) -> bool:
    # A plain pickle (joblib.load reads it): joblib's pure-Python pickler is several times
    # slower on a vocabulary's dict of terms.
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return artifacts.artifact_create_once(f"{_project_dir(project_id)}/{file}", data)


def _save_once(project_id: int, file: str, value: Any) -> Any:
    """Store ``value`` as ``file`` unless it exists; return whichever is stored.

    Two workers may fit one at the same moment: the store creates the name only if it
    does not exist (`artifacts.artifact_create_once`), so the first wins and the other
    adopts it (no shard is ever computed with a representation that lost).
    """
    _create_once(project_id, file, value)
    return artifacts.artifact_unpickle(f"{_project_dir(project_id)}/{file}")


# The pool's low-rank projection (``strategies._space.Projection``) for the diversity
# selector, fitted once (``projects.pool.geometry``). It never changes once stored, so
# each process keeps the one it read: a selection does not reread tens of megabytes. A
# new representation deletes it (``representation_delete``); another process notices by
# the width of the rows it projects (``geometry.geometry_rows``) and reads it again.
GEOMETRY_FILE = "geometry.joblib"
_GEOMETRY: dict[int, Any] = {}


def geometry_load(project_id: int, *, fresh: bool = False) -> Any | None:
    """The project's stored pool projection, or None if none yet."""
    if fresh or project_id not in _GEOMETRY:
        _GEOMETRY.pop(project_id, None)
        try:
            name = f"{_project_dir(project_id)}/{GEOMETRY_FILE}"
            _GEOMETRY[project_id] = artifacts.artifact_unpickle(name)
        except FileNotFoundError:
            return None
    return _GEOMETRY[project_id]


def geometry_save_once(project_id: int, projection: Any) -> Any:
    """Store ``projection`` unless one exists; return whichever is stored."""
    _GEOMETRY[project_id] = _save_once(project_id, GEOMETRY_FILE, projection)
    return _GEOMETRY[project_id]


def representation_delete(project_id: int) -> None:
    """Forget the representation and every stored row (recomputed at the next use)."""
    features_delete(project_id)
    artifacts.artifact_delete(representation_name(project_id))
    artifacts.artifact_delete(f"{_project_dir(project_id)}/{GEOMETRY_FILE}")
    _GEOMETRY.pop(project_id, None)
    _LOADED.pop(project_id, None)
