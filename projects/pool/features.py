"""Per-project feature store: features are computed once per item and kept as shards.

Rows live in append-only shards (`.npz`) in the artifact store (`projects.artifacts`),
each with the item ids it covers, so rescoring the pool is one vstack and one matrix
product, never a per-item query. A shard is written whole under a new name, so
concurrent workers never see half a shard; duplicate rows (two workers featurising the
same new items) are dropped on load. Each worker keeps the merged table in its own
cache, memory-mapped, keyed by the shard names: a new shard is a new version. A shard's
name carries its first and last id, so a rescore chunk reads only the shards it needs
(`features_rows`), each cached alone (`feature_cache`).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import uuid
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from projects import artifacts
from projects.pool import feature_cache

Matrix: TypeAlias = feature_cache.Matrix

COMPACT_AFTER_SHARDS = 16


@dataclass(frozen=True)
class FeatureTable:
    ids: np.ndarray  # sorted item ids
    X: Matrix  # one row per id

    def rows(self, item_ids: np.ndarray) -> Matrix:
        """Rows for `item_ids` (all must be present), in that order."""
        if len(item_ids) == len(self.ids) and np.array_equal(item_ids, self.ids):
            return self.X  # every row, in order: the table itself (memory-mapped), no copy
        positions = np.searchsorted(self.ids, item_ids)
        return self.X[positions]

    def missing(self, item_ids: np.ndarray) -> np.ndarray:
        """The ids of `item_ids` without a row, sorted and unique.

        A binary search in the sorted `ids`: a set difference sorted the whole pool's ids
        again on every retrain (a tenth of its snapshot's time at 100k items).
        """
        if not len(self.ids):
            return np.unique(item_ids)
        at = np.searchsorted(self.ids, item_ids).clip(max=len(self.ids) - 1)
        return np.unique(item_ids[self.ids[at] != item_ids])


def _project_dir(project_id: int) -> str:
    return f"features/project_{project_id}"


def _encode(ids: np.ndarray, X: Matrix) -> bytes:
    fh = io.BytesIO()
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
    return fh.getvalue()


def _read(name: str) -> tuple[np.ndarray, Matrix]:
    with artifacts.artifact_open(name) as fh, np.load(fh) as npz:
        ids = npz["ids"]
        if bool(npz["sparse"]):
            shape = tuple(int(v) for v in npz["shape"])
            return ids, sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]), shape=shape)
        return ids, npz["dense"]


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
    artifacts.artifact_save(_shard_name(project_id, ids), _encode(ids, X[order]))


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
    """All stored rows of a project, sorted by item id, or None if none yet.

    Shards are immutable and uniquely named, so their names are the table's version:
    the same names are answered from this process's memory, else from this worker's
    memory-mapped cache (`_cached`); only changed names make it read the store again.
    """
    for _attempt in range(3):
        names = _shard_names(project_id)
        if not names:
            return None
        table = _at_hand(project_id, names)
        if table is not None:
            return table
        key = _version_key(names)
        try:
            parts = [_read(n) for n in names]
        except FileNotFoundError:  # a concurrent compaction replaced the shards
            continue
        table = _merge(parts)
        if len(names) > COMPACT_AFTER_SHARDS:
            names = _compact(project_id, names, table)
            key = _version_key(names)
        _cache_write(project_id, key, table)
        _remember(project_id, names, table)
        return table
    raise RuntimeError(f"Feature shards of project {project_id} kept changing while loading.")


def _at_hand(project_id: int, names: tuple[str, ...]) -> FeatureTable | None:
    """The merged table of shard set `names` from this process's memory or this worker's
    cache, or None: the same names are the same rows (shards are immutable)."""
    cached = _LOADED.get(project_id)
    if cached is not None and cached[0] == names:
        return cached[1]
    table = _cached(project_id, _version_key(names))
    if table is not None:
        _remember(project_id, names, table)
    return table


def features_rows(project_id: int, item_ids: np.ndarray) -> Matrix:
    """Rows for `item_ids` (sorted, all stored), in that order: a rescore chunk's.

    From the merged table if this worker has the current one at hand (it retrained);
    else from only the shards the ids fall in, each read from the store once and then
    memory-mapped from this worker's cache: a worker that only scores chunks never
    reads, merges or caches the whole table (seconds at a million items, which the
    retrain waiting for its chunk waited too).
    """
    for _attempt in range(3):
        names = _shard_names(project_id)
        table = _at_hand(project_id, names) if names else None
        if table is not None:
            return table.rows(item_ids)
        feature_cache.shards_keep(project_id, names)
        low, high = int(item_ids[0]), int(item_ids[-1])
        try:
            parts = [
                _within(_shard(project_id, n), low, high) for n in names if _meets(n, low, high)
            ]
        except FileNotFoundError:  # a concurrent compaction replaced the shards
            continue
        parts = [p for p in parts if len(p[0])]
        if not parts:
            raise LookupError(f"project {project_id} has no stored rows for items {low}-{high}")
        return _merge(parts).rows(item_ids)
    raise RuntimeError(f"Feature shards of project {project_id} kept changing while loading.")


def _meets(name: str, low: int, high: int) -> bool:
    span = _shard_span(name)
    return span is None or (span[0] <= high and low <= span[1])


def _shard(project_id: int, name: str) -> tuple[np.ndarray, Matrix]:
    """Shard `name` from this worker's cache; read from the store and cached the first time."""
    directory = feature_cache.shard_dir(project_id, name)
    mapped = feature_cache.arrays_map(directory)
    if mapped is None:
        ids, X = _read(name)
        feature_cache.arrays_write(directory, ids, X)
        mapped = feature_cache.arrays_map(directory) or (ids, X)
    return mapped


def _within(part: tuple[np.ndarray, Matrix], low: int, high: int) -> tuple[np.ndarray, Matrix]:
    """The rows of a shard (sorted by id) whose ids are in [low, high]."""
    ids, X = part
    start, stop = np.searchsorted(ids, [low, high + 1])
    return ids[start:stop], X[start:stop]


def _merge(parts: list[tuple[np.ndarray, Matrix]]) -> FeatureTable:
    """One table sorted by id; a row stored twice (two workers featurising it) kept once."""
    parts = sorted(parts, key=lambda p: int(p[0][0]) if len(p[0]) else 0)
    ids = np.concatenate([p[0] for p in parts])
    X = _stack([p[1] for p in parts])
    if len(ids) > 1 and bool((ids[1:] > ids[:-1]).all()):
        return FeatureTable(ids=ids, X=X)  # the usual case: no sort, no copy of the rows
    ids, first = np.unique(ids, return_index=True)
    return FeatureTable(ids=ids, X=X[first])


def _version_key(names: tuple[str, ...]) -> str:
    return hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]


# -- this worker's cache: the merged table as raw arrays, memory-mapped ------------------


def _cached(project_id: int, key: str) -> FeatureTable | None:
    """The merged table of shard set `key` from this worker's cache, memory-mapped."""
    mapped = feature_cache.arrays_map(feature_cache.table_dir(project_id, key))
    return None if mapped is None else FeatureTable(ids=mapped[0], X=mapped[1])


def _cache_write(project_id: int, key: str, table: FeatureTable) -> None:
    """Keep the table for the next load in this worker; older versions are removed, and
    the single shards cached for rescore chunks (`features_rows`): the table has them."""
    feature_cache.arrays_write(feature_cache.table_dir(project_id, key), table.ids, table.X)
    feature_cache.keep_only(feature_cache.table_dir(project_id), {key})
    feature_cache.shards_keep(project_id, ())


# The last table loaded per project, keyed by its shard names (immutable and uniquely
# named, so the same names mean the same rows): the worker reads the whole table to
# retrain and again, moments later, to pick the next batch under the project's lock.
_LOADED: dict[int, tuple[tuple[str, ...], FeatureTable]] = {}
_LOADED_PROJECTS = 2


def _remember(project_id: int, names: tuple[str, ...], table: FeatureTable) -> None:
    # Shared by every snapshot of the project (`rows` hands out the table itself when
    # asked for every row): read-only, so no caller can change the rows in place.
    for values in _arrays(table):
        values.flags.writeable = False
    _LOADED.pop(project_id, None)
    while len(_LOADED) >= _LOADED_PROJECTS:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[project_id] = (names, table)


def _arrays(table: FeatureTable) -> list[np.ndarray]:
    X = table.X
    parts = [X.data, X.indices, X.indptr] if isinstance(X, sp.csr_matrix) else [X]
    return [a for a in [table.ids, *parts] if isinstance(a, np.ndarray)]


def _compact(project_id: int, names: tuple[str, ...], table: FeatureTable) -> tuple[str, ...]:
    """Merge many small shards (stream mode) into one; readers retry on a vanished one."""
    merged = _shard_name(project_id, table.ids)
    artifacts.artifact_save(merged, _encode(table.ids, table.X))
    for name in names:
        artifacts.artifact_delete(name)
    return (merged,)


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
