"""A project's pool as arrays: item ids, states, label codes and the feature matrix.

Everything the worker and the batch selector need is loaded with one query per
column set and one read of the feature store, then handled with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from projects.models import Item, Project
from projects.pool import features
from strategies import features as lib
from strategies.images import images_features

FEATURE_CHUNK = 20_000


@dataclass
class PoolSnapshot:
    ids: np.ndarray
    state: np.ndarray
    label: np.ndarray  # label code, -1 where the item has no final label
    holdout: np.ndarray
    X: features.Matrix

    @property
    def labeled(self) -> np.ndarray:
        return self.label >= 0

    @property
    def train(self) -> np.ndarray:
        return self.labeled & ~self.holdout

    @property
    def pool(self) -> np.ndarray:
        return (self.state == Item.State.POOL) & ~self.holdout

    @property
    def unlabeled(self) -> np.ndarray:
        """What a retrain scores: the pool and the open batch, whose untouched items go back."""
        queued = (self.state == Item.State.POOL) | (self.state == Item.State.QUEUED)
        return queued & ~self.holdout


def label_codes(project: Project, labels: np.ndarray) -> np.ndarray:
    """Map label names to their index in the project's label list (-1 for none)."""
    index = {name: i for i, name in enumerate(project.labels)}
    return np.array([index.get(x, -1) if x is not None else -1 for x in labels], dtype=np.int64)


def pool_snapshot(project: Project) -> PoolSnapshot:
    rows = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "state", "label", "is_holdout")
    )
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return PoolSnapshot(empty, empty.astype(str), empty, empty.astype(bool), np.zeros((0, 1)))
    ids, states, labels, holdout = (np.array(col) for col in zip(*rows, strict=True))
    ids = ids.astype(np.int64)
    table = features_ready(project, ids)
    return PoolSnapshot(
        ids=ids,
        state=states.astype(str),
        label=label_codes(project, labels),
        holdout=holdout.astype(bool),
        X=table.rows(ids),
    )


def features_ready(project: Project, ids: np.ndarray) -> features.FeatureTable:
    """The feature table covering `ids`, computing and storing rows that are missing."""
    table = features.features_load(project.pk)
    missing = ids if table is None else table.missing(ids)
    if len(missing) == 0 and table is not None:
        return table
    for start in range(0, len(missing), FEATURE_CHUNK):
        chunk = missing[start : start + FEATURE_CHUNK]
        features.features_add(project.pk, chunk, compute_features(project, chunk))
    table = features.features_load(project.pk)
    assert table is not None
    return table


def compute_features(project: Project, ids: np.ndarray) -> features.Matrix:
    """Features for items from their stored content, in the order of `ids`."""

    fields = {"text": "text", "vector": "vector", "image": "image"}[project.kind]
    values = dict(Item.objects.filter(pk__in=ids.tolist()).values_list("id", fields))
    ordered = [values[int(i)] for i in ids]
    if project.kind == Project.Kind.TEXT:
        return lib.text_features(ordered)
    if project.kind == Project.Kind.VECTOR:
        return lib.vector_features(ordered)
    return image_features_from_files(ordered)


def image_features_from_files(paths: list[str]) -> np.ndarray:
    from PIL import Image

    root = Path(settings.MEDIA_ROOT)
    images = []
    for path in paths:
        with Image.open(root / path) as img:
            img.load()
            images.append(img)
    return images_features(images)


def candidate_ids_all(project: Project) -> np.ndarray:
    ids = Item.objects.filter(project=project).values_list("id", flat=True)
    return np.fromiter(ids, dtype=np.int64)
