"""A model file names its representation (stored once), and a download carries it whole."""

from __future__ import annotations

import io
import pickle

import joblib
import pytest

from projects import artifacts
from projects.pool import features
from projects.training import model_files
from projects.training import services as training_services
from tests.projects.test_rescore import label_open_batch, make_pool, retrain_owed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.WINNOW_CACHE_DIR = tmp_path / "cache"
    yield
    training_services.load_model.cache_clear()


def _stored(project_id: int, version: int) -> dict:  # type: ignore[type-arg]
    with artifacts.artifact_open(training_services.model_name(project_id, version)) as fh:
        return pickle.load(fh)  # type: ignore[no-any-return]  # noqa: S301 - our own file


def test_versions_share_one_stored_representation_and_downloads_carry_it(api) -> None:  # type: ignore[no-untyped-def]
    project, truth = make_pool(api)
    features.representation_save_once(project.pk, {"kind": "own", "terms": list(range(1000))})
    first = retrain_owed(project)
    label_open_batch(api, project, truth)
    second = retrain_owed(project)

    one, two = _stored(project.pk, first), _stored(project.pk, second)
    assert "representation" not in one and "representation" not in two
    ref = one[model_files.REPRESENTATION_KEY]
    assert ref is not None and ref == two[model_files.REPRESENTATION_KEY]
    copies = [
        n
        for n in artifacts.artifact_names(f"models/project_{project.pk}")
        if "representation-" in n
    ]
    assert copies == [ref]

    response = api["lead"].get(f"/api/projects/{project.pk}/models/{second}/")
    assert response.status_code == 200
    saved = joblib.load(io.BytesIO(b"".join(response.streaming_content)))
    assert saved["representation"] == features.representation_load(project.pk)
    assert saved["labels"] == project.labels and model_files.REPRESENTATION_KEY not in saved
    assert saved["model"].predict_proba([[0.5, 0.1]]).shape == (1, 2)

    missing = api["lead"].get(f"/api/projects/{project.pk}/models/{second + 5}/")
    assert missing.status_code == 404


def test_a_new_representation_leaves_older_versions_theirs(api) -> None:  # type: ignore[no-untyped-def]
    project, _ = make_pool(api)
    features.representation_save_once(project.pk, {"kind": "own", "terms": [1, 2]})
    first = retrain_owed(project)
    before = features.representation_load(project.pk)
    assert before is not None
    name = features.representation_name(project.pk)
    artifacts.artifact_delete(name)
    features.representation_save_once(project.pk, {"kind": "builtin"})

    saved = joblib.load(io.BytesIO(model_files.model_file_bytes(project.pk, first)))
    assert saved["representation"] == before != {"kind": "builtin"}


def test_without_a_representation_the_download_says_none(api) -> None:  # type: ignore[no-untyped-def]
    project, _ = make_pool(api)  # vector rows: no representation is stored
    first = retrain_owed(project)
    assert _stored(project.pk, first)[model_files.REPRESENTATION_KEY] is None
    saved = joblib.load(io.BytesIO(model_files.model_file_bytes(project.pk, first)))
    assert saved["representation"] is None and saved["kind"] == "vector"
