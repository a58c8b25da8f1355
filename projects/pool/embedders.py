"""The server's embedders: feature functions named in settings, never in a request.

``WINNOW_EMBEDDERS`` (texts) and ``WINNOW_IMAGE_EMBEDDERS`` (PIL images) map a name to
``{"factory": dotted path, "options": {...}, "description": str}``; the factory, called
once per process with the options, returns a callable ``items -> (n, d) array``
(``strategies.embedders.sentence_transformer`` is one). A project stores only the name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

from strategies.embedders import check_rows


def embedder_names(kind: str) -> dict[str, str]:
    """Name -> description of the embedders a project of ``kind`` may choose."""
    table = settings.WINNOW_IMAGE_EMBEDDERS if kind == "image" else settings.WINNOW_EMBEDDERS
    if kind == "vector":
        return {}
    return {name: str(entry.get("description", name)) for name, entry in table.items()}


@cache
def _loaded(setting: str, name: str) -> Callable[[Sequence[Any]], Any]:
    entry = getattr(settings, setting).get(name)
    if entry is None:
        raise ValueError(f"unknown embedder {name!r}")
    factory = import_string(entry["factory"])
    return factory(**entry.get("options", {}))  # type: ignore[no-any-return]


def embed_texts(name: str, texts: Sequence[str]) -> np.ndarray:
    return check_rows(_loaded("WINNOW_EMBEDDERS", name)(list(texts)), len(texts))


def embed_images(name: str, images: Sequence[Any]) -> np.ndarray:
    return check_rows(_loaded("WINNOW_IMAGE_EMBEDDERS", name)(list(images)), len(images))
