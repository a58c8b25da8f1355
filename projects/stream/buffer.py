"""Feature rows of stream items, buffered per process and written one shard per many.

A shard per post would cost a file each. A row lost with a dying process is
recomputed from the stored item by ``pool.features_ready`` at the next retrain.
"""

from __future__ import annotations

import atexit
import threading
import time

import numpy as np
import scipy.sparse as sp

from projects.pool import features

FEATURE_FLUSH_ROWS = 512
FEATURE_FLUSH_SECONDS = 10.0

_Rows = tuple[list[np.ndarray], list[features.Matrix]]


class _FeatureBuffer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[int, _Rows] = {}
        self.counts: dict[int, int] = {}
        self.since: dict[int, float] = {}

    def add(self, project_id: int, item_ids: np.ndarray, X: features.Matrix) -> None:
        with self.lock:
            buffered = self.rows.get(project_id)
            if buffered and buffered[1][-1].shape[1] != X.shape[1]:
                # The project's representation changed (a new embedder, or the project and
                # its files were deleted and the id came back): rows of the old one must not
                # reach the new shards. Dropped rows are recomputed, as for a dead process.
                self._take(project_id)
            ids, blocks = self.rows.setdefault(project_id, ([], []))
            self.since.setdefault(project_id, time.monotonic())
            ids.append(item_ids)
            blocks.append(X)
            self.counts[project_id] = self.counts.get(project_id, 0) + len(item_ids)
            due = self.counts[project_id] >= FEATURE_FLUSH_ROWS or (
                time.monotonic() - self.since[project_id] > FEATURE_FLUSH_SECONDS
            )
            taken = self._take(project_id) if due else None
        if taken is not None:
            _write_rows(project_id, *taken)

    def _take(self, project_id: int) -> _Rows | None:
        self.since.pop(project_id, None)
        self.counts.pop(project_id, None)
        return self.rows.pop(project_id, None)

    def flush(self) -> None:
        with self.lock:
            taken = {pid: self._take(pid) for pid in list(self.rows)}
        for pid, rows in taken.items():
            if rows is not None:
                _write_rows(pid, *rows)


def _write_rows(project_id: int, ids: list[np.ndarray], blocks: list[features.Matrix]) -> None:
    X = sp.vstack(blocks, format="csr") if sp.issparse(blocks[0]) else np.vstack(blocks)
    features.features_add(project_id, np.concatenate(ids).astype(np.int64), X)


_buffer = _FeatureBuffer()
atexit.register(_buffer.flush)


def stream_features_add(project_id: int, item_ids: np.ndarray, X: features.Matrix) -> None:
    """Buffer the feature rows ``X`` of the stored items ``item_ids`` (in order)."""
    _buffer.add(project_id, item_ids, X)


def stream_features_flush() -> None:
    """Write every buffered feature row now (tests, shutdown)."""
    _buffer.flush()
