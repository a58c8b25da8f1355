"""Adapters that turn a pre-trained encoder into a feature function, loading only from disk.

The platform names embedders in its settings (``WINNOW_EMBEDDERS``, a dotted path to a
factory plus its options); a factory returns a callable ``texts -> array`` (or
``images -> array``) of shape ``(n, d)``. Nothing here downloads: a model is a local
directory, and a missing one is an error at once, not a fetch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def sentence_transformer(
    model_dir: str, *, batch_size: int = 32, normalize: bool = True
) -> Callable[[Sequence[str]], np.ndarray]:
    """A ``sentence-transformers`` model saved in ``model_dir`` (``model.save(dir)``).

    Optional dependency (``pip install '.[embeddings]'``: sentence-transformers, torch).
    Loaded with the Hugging Face hub offline, so a name that is not a local directory
    fails instead of downloading. Rows are l2-normalised (cosine geometry) by default.
    """
    path = Path(model_dir)
    if not path.is_dir():
        raise ValueError(f"sentence-transformers model directory {model_dir!r} does not exist")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def embed(texts: Sequence[str]) -> np.ndarray:
        rows = model.encode(
            [str(t) for t in texts],
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=normalize,
            show_progress_bar=False,
        )
        return np.asarray(rows, dtype=np.float32)

    return embed


def check_rows(rows: Any, n: int) -> np.ndarray:
    """An embedder's answer as a finite float32 ``(n, d)`` matrix, or ValueError."""
    X = np.asarray(rows, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != n or X.shape[1] < 1:
        raise ValueError(f"the embedder returned shape {X.shape}, expected ({n}, d)")
    if not np.isfinite(X).all():
        raise ValueError("the embedder returned NaN or infinite values")
    return X
