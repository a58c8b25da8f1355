"""A worker's own copies of feature shards, memory-mapped (`artifacts.cache_dir`).

Each shard a worker reads (`features._shard`) is written here once as raw arrays and
memory-mapped from then on, keyed by the shard's name: shard names are immutable and
never reused, so a new shard is a new key and a removed one (compacted) is dropped with
`shards_keep`. Pages are the kernel's to keep or evict: a worker's memory holds the rows
it gathers, not the pool's.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from projects import artifacts

Matrix: TypeAlias = sp.csr_matrix | np.ndarray
_ARRAYS = ("ids", "data", "indices", "indptr", "shape", "dense")


def arrays_map(directory: Path) -> tuple[np.ndarray, Matrix] | None:
    """The ids and rows cached in `directory`, memory-mapped; None if not (wholly) there."""
    if not (directory / "ready").exists():
        return None
    try:
        arrays = {
            name: np.load(directory / f"{name}.npy", mmap_mode="r")
            for name in _ARRAYS
            if (directory / f"{name}.npy").exists()
        }
    except (FileNotFoundError, ValueError):  # removed meanwhile by another process
        return None
    if "dense" in arrays:
        return arrays["ids"], arrays["dense"]
    shape = tuple(int(v) for v in arrays["shape"])
    X = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
    return arrays["ids"], X


def arrays_write(directory: Path, ids: np.ndarray, X: Matrix) -> None:
    """Cache `ids` and `X` as `directory`, written under a temp name and renamed whole,
    so a reader sees them complete or not at all."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    arrays: dict[str, Any] = {"ids": np.asarray(ids)}
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        arrays |= {"data": X.data, "indices": X.indices, "indptr": X.indptr}
        arrays["shape"] = np.array(X.shape)
    else:
        arrays["dense"] = np.asarray(X)
    for name, values in arrays.items():
        np.save(tmp / f"{name}.npy", values)
    (tmp / "ready").touch()
    try:
        tmp.rename(directory)
    except OSError:  # another process of this worker cached the same key first
        shutil.rmtree(tmp, ignore_errors=True)


def keep_only(root: Path, keys: set[str]) -> None:
    """Remove every cached entry under `root` but `keys` (temp entries are left alone)."""
    if not root.exists():
        return
    for entry in root.iterdir():
        if entry.name not in keys and not entry.name.startswith("."):
            shutil.rmtree(entry, ignore_errors=True)


def shard_dir(project_id: int, name: str = "") -> Path:
    """Shard `name` (its artifact name; or the root of them all)."""
    root = artifacts.cache_dir("feature_shards", f"project_{project_id}")
    return root / _shard_key(name) if name else root


def _shard_key(name: str) -> str:
    return name.rsplit("/", 1)[-1].removesuffix(".npz")


def shards_keep(project_id: int, names: tuple[str, ...]) -> None:
    """Drop the cached shards that are no longer stored (compacted or deleted)."""
    keep_only(shard_dir(project_id), {_shard_key(n) for n in names})


def drop(project_id: int) -> None:
    # Earlier versions cached a merged table per project here; gone with the shards.
    shutil.rmtree(artifacts.cache_dir("features", f"project_{project_id}"), ignore_errors=True)
    shutil.rmtree(shard_dir(project_id), ignore_errors=True)
