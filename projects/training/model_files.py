"""Model files: what a retrain stores per version, and what a download hands out.

A version's file holds the estimator, the label list and the kind, and *names* the
representation its rows came from rather than carrying a copy: a pool's vocabulary is
megabytes of terms, and pickling it again on every retrain cost more than the fit at a
million items. The representation is stored once, under a name derived from its bytes
(`representation-<digest>.pickle` beside the model files), so every version trained on
it shares one copy and a later change of representation (`features.representation_delete`)
never alters what an older version names. A download (`model_file_bytes`) puts the
representation back in, so the downloaded file is self-contained as before.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from typing import Any

import joblib

from projects import artifacts
from projects.pool import features as feature_store
from projects.training.services import model_name

REPRESENTATION_KEY = "representation_file"


def _representation_ref(project_id: int) -> str | None:
    """The stored copy of the project's representation (written once), or None if none."""
    try:
        with artifacts.artifact_open(feature_store.representation_name(project_id)) as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()[:20]
    name = f"models/project_{project_id}/representation-{digest}.pickle"
    if not artifacts.artifact_exists(name):
        artifacts.artifact_create_once(name, data)
    return name


def model_save(project_id: int, version: int, model: Any, labels: list[str], kind: str) -> str:
    """Store a version's model file; its name under `models/` (ModelVersion.model_file)."""
    name = model_name(project_id, version)
    content = {
        "model": model,
        "labels": list(labels),
        "kind": kind,
        REPRESENTATION_KEY: _representation_ref(project_id),
    }
    # A plain pickle, which joblib.load reads as well: joblib's own pickler is the pure
    # Python one, several times slower.
    artifacts.artifact_save(name, pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL))
    return name.removeprefix("models/")


def model_file_bytes(project_id: int, version: int) -> bytes:
    """A version's model file as downloaded: the estimator with its representation in it.

    FileNotFoundError if the version has no file. Files written before representations
    were stored apart already carry theirs and are handed out as stored.
    """
    with artifacts.artifact_open(model_name(project_id, version)) as fh:
        data = fh.read()
    content = joblib.load(io.BytesIO(data))
    if not isinstance(content, dict) or REPRESENTATION_KEY not in content:
        return data
    ref = content.pop(REPRESENTATION_KEY)
    content["representation"] = None
    if ref is not None:
        with artifacts.artifact_open(ref) as stored:
            content["representation"] = joblib.load(stored)
    return pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL)
