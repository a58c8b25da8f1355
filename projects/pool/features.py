"""Per-project feature store: features are computed once per item and kept on disk.

Rows live in append-only shard files (`.npz`), each with the item ids it covers,
so rescoring the pool is one vstack and one matrix product, never a per-item
query. Shards are written atomically (temp file + rename), so concurrent workers
never see half a shard; duplicate rows (two workers featurising the same new
items) are dropped on load.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import joblib
import numpy as np
import scipy.sparse as sp
from django.conf import settings

Matrix: TypeAlias = sp.csr_matrix | np.ndarray

COMPACT_AFTER_SHARDS = 16


@dataclass(frozen=True)
class FeatureTable:
    ids: np.ndarray  # sorted item ids
    X: Matrix  # one row per id

    def rows(self, item_ids: np.ndarray) -> Matrix:
        """Rows for `item_ids` (all must be present), in that order."""
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


def _project_dir(project_id: int) -> Path:
    return Path(settings.FEATURES_ROOT) / f"project_{project_id}"


def _write(path: Path, ids: np.ndarray, X: Matrix) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
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
    os.replace(tmp, path)


def _read(path: Path) -> tuple[np.ndarray, Matrix]:
    with np.load(path) as npz:
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
    """Append rows for new items as a shard of their own."""
    if len(ids) == 0:
        return
    directory = _project_dir(project_id)
    directory.mkdir(parents=True, exist_ok=True)
    order = np.argsort(ids)
    _write(directory / f"shard-{uuid.uuid4().hex}.npz", np.asarray(ids)[order], X[order])


def features_load(project_id: int) -> FeatureTable | None:
    """All stored rows of a project, sorted by item id, or None if none yet."""
    for _attempt in range(3):
        paths = sorted(_project_dir(project_id).glob("shard-*.npz"))
        if not paths:
            return None
        cached = _LOADED.get(project_id)
        if cached is not None and cached[0] == tuple(paths):
            return cached[1]
        try:
            parts = [_read(p) for p in paths]
        except FileNotFoundError:  # a concurrent compaction replaced the shards
            continue
        ids = np.concatenate([p[0] for p in parts])
        X = _stack([p[1] for p in parts])
        ids, first = np.unique(ids, return_index=True)
        table = FeatureTable(ids=ids, X=X[first])
        if len(paths) > COMPACT_AFTER_SHARDS:
            _compact(project_id, paths, table)
        else:
            _remember(project_id, tuple(paths), table)
        return table
    raise RuntimeError(f"Feature shards of project {project_id} kept changing while loading.")


# The last table loaded per project, keyed by its shard files (immutable and uniquely
# named, so the same names mean the same rows): the worker reads the whole table to
# retrain and again, moments later, to pick the next batch under the project's lock.
_LOADED: dict[int, tuple[tuple[Path, ...], FeatureTable]] = {}
_LOADED_PROJECTS = 2


def _remember(project_id: int, paths: tuple[Path, ...], table: FeatureTable) -> None:
    _LOADED.pop(project_id, None)
    while len(_LOADED) >= _LOADED_PROJECTS:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[project_id] = (paths, table)


def _compact(project_id: int, paths: list[Path], table: FeatureTable) -> None:
    """Merge many small shards (stream mode) into one; readers retry on a vanished file."""
    _write(_project_dir(project_id) / f"shard-{uuid.uuid4().hex}.npz", table.ids, table.X)
    for path in paths:
        path.unlink(missing_ok=True)


def features_delete(project_id: int) -> None:
    for path in _project_dir(project_id).glob("*.npz"):
        path.unlink(missing_ok=True)


# -- how a project's items become rows -------------------------------------------------
# Chosen once per project, when its first rows are computed, and kept beside the shards:
# every row of a project must come from the same representation.

REPRESENTATION_FILE = "representation.joblib"


def representation_load(project_id: int) -> dict[str, Any] | None:
    """The project's stored representation (``{"kind", ...}``), or None if none yet."""
    path = _project_dir(project_id) / REPRESENTATION_FILE
    try:
        loaded: dict[str, Any] = joblib.load(path)
    except FileNotFoundError:
        return None
    return loaded


def representation_save_once(project_id: int, representation: dict[str, Any]) -> dict[str, Any]:
    """Store ``representation`` unless one exists; return whichever is stored."""
    stored: dict[str, Any] = _save_once(project_id, REPRESENTATION_FILE, representation)
    return stored


def _save_once(project_id: int, name: str, value: Any) -> Any:
    """Store ``value`` as file ``name`` unless it exists; return whichever is stored.

    Two workers may fit one at the same moment: the file is created by a hard link of a
    finished temp file, which fails if the name exists, so the first wins and the other
    adopts it (no shard is ever computed with a representation that lost).
    """
    directory = _project_dir(project_id)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    tmp = directory / f".{name}.{uuid.uuid4().hex}.tmp"
    joblib.dump(value, tmp)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return joblib.load(path)


# The pool's low-rank projection (``strategies._space.Projection``) for the diversity
# selector, fitted once on the stored rows (``projects.pool.geometry``).
GEOMETRY_FILE = "geometry.joblib"


def geometry_load(project_id: int) -> Any | None:
    """The project's stored pool projection, or None if none yet."""
    try:
        return joblib.load(_project_dir(project_id) / GEOMETRY_FILE)
    except FileNotFoundError:
        return None


def geometry_save_once(project_id: int, projection: Any) -> Any:
    """Store ``projection`` unless one exists; return whichever is stored."""
    return _save_once(project_id, GEOMETRY_FILE, projection)


def representation_delete(project_id: int) -> None:
    """Forget the representation and every stored row (recomputed at the next use)."""
    features_delete(project_id)
    (_project_dir(project_id) / REPRESENTATION_FILE).unlink(missing_ok=True)
    (_project_dir(project_id) / GEOMETRY_FILE).unlink(missing_ok=True)
    _LOADED.pop(project_id, None)
