"""The content of arriving stream items: checked, and turned into one feature matrix.

Every entry of a post is checked before anything is written, and the features of
all of them are computed at once (``strategies.features``), one row per entry in
the order posted. An invalid entry is reported with its index (``EntryInvalid``).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image

from projects import item_images
from projects.ingest.images import EXTENSIONS, max_image_pixels
from projects.models import Item, Project
from projects.pool import embedders, features
from projects.pool import snapshot as pool
from projects.settings_schema import BUILTIN_EMBEDDER
from strategies.features import vector_features
from strategies.images import ImageRejected, image_features, normalise_image, thumbnail_bytes

MAX_META_CHARS = 10_000


class EntryInvalid(Exception):
    """Entry ``index`` of a post is invalid (``error`` says why); nothing is written."""

    def __init__(self, index: int, error: ValidationError) -> None:
        super().__init__(f"item {index}: {error}")
        self.index = index
        self.error = error


@dataclass
class ArrivingImage:
    image: Image.Image  # decoded
    data: bytes
    format: str


@dataclass
class Arrivals:
    """Entries ready to store: each item's content columns, and their feature rows."""

    fields: list[dict[str, Any]]
    X: features.Matrix  # one row per entry, in order
    images: list[ArrivingImage] = field(default_factory=list)  # image projects: one per entry


def arrivals_parse(
    project: Project,
    entries: Sequence[object],
    *,
    image: bytes | None = None,
    n_features: int | None = None,
) -> Arrivals:
    """Check ``entries`` (``{"text"}`` / ``{"features"}``, with an optional ``"meta"``;
    an image project's single entry comes with ``image``) and compute their features.

    ``n_features``: the length the model expects of a feature vector, if there is one.
    """
    if project.kind == Project.Kind.IMAGE:
        return _image_arrivals(entries, image, project.embedder)
    checked = [_entry(index, entry) for index, entry in enumerate(entries)]
    if project.kind == Project.Kind.TEXT:
        for index, entry in enumerate(checked):
            _at(index, _check_text, entry.get("text"))
        texts = [str(entry["text"]) for entry in checked]
        rep = pool.representation(project)
        vectors = _own_vectors(checked) if rep["kind"] == "own" else None
        own: list[list[float] | None] = list(vectors) if vectors else [None] * len(texts)
        return Arrivals(
            [
                {"text": text, "meta": entry["meta"], **({"vector": v} if v else {})}
                for text, entry, v in zip(texts, checked, own, strict=True)
            ],
            pool.text_rows(rep, texts, vectors),
        )
    return _vector_arrivals(project, checked, n_features)


def _own_vectors(entries: list[dict[str, Any]]) -> list[list[float]]:
    """A text project trained on its own vectors: every entry brings ``features``."""
    vectors = []
    for index, entry in enumerate(entries):
        _at(index, _check_vector, entry.get("features"))
        vectors.append([float(v) for v in entry["features"]])
    expected = len(vectors[0]) if vectors else 0
    for index, vector in enumerate(vectors):
        if len(vector) != expected:
            error = ValidationError({"features": f"expected {expected} features"})
            raise EntryInvalid(index, error)
    return vectors


def _entry(index: int, entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise EntryInvalid(index, ValidationError({"detail": "each item must be an object"}))
    return {**entry, "meta": _at(index, meta_clean, entry.get("meta"))}


def _at(index: int, check: Any, value: object) -> Any:
    try:
        return check(value)
    except ValidationError as exc:
        raise EntryInvalid(index, exc) from None


def meta_clean(meta: object) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ValidationError({"meta": "meta must be an object"})
    if len(json.dumps(meta)) > MAX_META_CHARS:
        raise ValidationError({"meta": f"meta larger than {MAX_META_CHARS} characters"})
    return meta


def _check_text(text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"text": "text is required and must be a non-empty string"})
    if len(text) > settings.WINNOW_MAX_TEXT_CHARS:
        raise ValidationError({"text": f"text longer than {settings.WINNOW_MAX_TEXT_CHARS}"})


def _vector_arrivals(
    project: Project, entries: list[dict[str, Any]], n_features: int | None
) -> Arrivals:
    expected = _vector_dim(project) or n_features
    for index, entry in enumerate(entries):
        _at(index, _check_vector, entry.get("features"))
        vector: list[float] = entry["features"]
        expected = expected or len(vector)  # the first vector of a project sets the length
        if len(vector) != expected:
            error = ValidationError(
                {"features": f"expected {expected} features, found {len(vector)}"}
            )
            raise EntryInvalid(index, error)
    fields = [
        {
            "vector": [float(v) for v in entry["features"]],
            "meta": entry["meta"],
            "text": entry["text"] if isinstance(entry.get("text"), str) else "",
        }
        for entry in entries
    ]
    return Arrivals(fields, vector_features([f["vector"] for f in fields]))


def _check_vector(vector: object) -> None:
    if (
        not isinstance(vector, list)
        or not vector
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector)
        or not all(math.isfinite(v) for v in vector)
    ):
        raise ValidationError({"features": "features must be a non-empty list of finite numbers"})


def _vector_dim(project: Project) -> int | None:
    """The project's feature length, from its first item."""
    first = (
        Item.objects.filter(project=project, vector__isnull=False)
        .order_by("id")
        .values_list("vector", flat=True)
        .first()
    )
    return len(first) if isinstance(first, list) else None


def _image_arrivals(entries: Sequence[object], data: bytes | None, embedder: str) -> Arrivals:
    if len(entries) != 1:
        error = ValidationError({"image": "an image project takes one multipart image per post"})
        raise EntryInvalid(1 if entries else 0, error)
    meta = _entry(0, entries[0])["meta"]
    if not data:
        error = ValidationError({"image": "attach the image as multipart field 'image'"})
        raise EntryInvalid(0, error)
    try:
        img, fmt = normalise_image(data, max_pixels=max_image_pixels())
    except ImageRejected as exc:
        raise EntryInvalid(0, ValidationError({"image": str(exc)})) from None
    if embedder != BUILTIN_EMBEDDER:  # the server's image embedder, as for imported images
        X = embedders.embed_images(embedder, [img])
    else:
        X = image_features(img)[None, :]
    return Arrivals([{"meta": meta}], X, [ArrivingImage(img, data, fmt)])


def images_store(project: Project, arrivals: Arrivals) -> list[str]:
    """Store each image and its thumbnail; the caller deletes them if the insert fails."""
    written: list[str] = []
    if not arrivals.images:
        return written
    for fields, arriving in zip(arrivals.fields, arrivals.images, strict=True):
        relative = f"project_{project.pk}/s-{uuid.uuid4().hex}{EXTENSIONS[arriving.format]}"
        written.append(relative)
        item_images.image_save(relative, arriving.data)
        item_images.image_save(item_images.thumbnail_of(relative), thumbnail_bytes(arriving.image))
        fields["image"] = relative
    return written
