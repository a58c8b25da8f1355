"""The batch selector measures diversity on the pool's stored SVD, as the simulator does.

A text project imports a pool with some labels and retrains in-process; the worker's
k-center selection must pass ``select_batch`` the shortlist's rows under the projection
fitted once on the pool's stored features (``projects.pool.geometry``) and kept beside
them, and later selections must reuse it rather than fit again.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects import artifacts, tasks
from projects.batches import selection as batch_selection
from projects.models import RANKING_ORDER, Item, ModelVersion, Project
from projects.pool import features, geometry
from projects.training import services as training_services
from strategies import _space, selection
from strategies._space import EMBED_DIM, fit_projection
from strategies.data import DEMO_TEXT_CSV
from tests.projects.test_rescore import own_files  # noqa: F401  (autouse: files in tmp_path)

pytestmark = pytest.mark.django_db

LABELS = ["concurrency", "gui", "networking", "numbers"]
POOL = 200
LABELLED = 40


def trained_project(api) -> Project:  # type: ignore[no-untyped-def]
    with DEMO_TEXT_CSV.open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(fh) if r["label"] in LABELS]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label"])
    writer.writerows((t, y if i < LABELLED else "") for i, (t, y) in enumerate(rows[:POOL]))
    created = api["lead"].post(
        "/api/projects/",
        {
            "name": "Svd",
            "kind": "text",
            "labels": LABELS,
            "selector": "kcenter",
            "holdout_fraction": 0.0,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    upload = SimpleUploadedFile("pool.csv", buffer.getvalue().encode())
    assert api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload}).status_code == 201
    owed = ModelVersion.objects.get(project_id=pid, status=ModelVersion.Status.PENDING)
    assert tasks.retrain(owed.pk)
    return Project.objects.get(pk=pid)


def test_kcenter_picks_measure_distance_on_the_stored_svd(
    api, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(selection, "GEOMETRY", "embedding")
    project = trained_project(api)
    seen: list[dict[str, Any]] = []
    real = batch_selection.select_batch

    def spy(scores: np.ndarray, X: Any, k: int, **kwargs: Any) -> Any:
        seen.append({"X": X, **kwargs})
        return real(scores, X, k, **kwargs)

    monkeypatch.setattr(batch_selection, "select_batch", spy)
    latest = training_services.latest_model(project)
    assert latest is not None
    picks = batch_selection.model_picks(project, latest, 10, quick=False)

    # Fitted by the retrain's refresh of the open batch (its first selection), on every row.
    stored = features.geometry_load(project.pk)
    assert stored is not None and len(picks.item_ids) == 10
    table = features.features_load(project.pk)
    assert table is not None and len(table.ids) == POOL
    expected = fit_projection(table.X, random_state=project.random_state)
    np.testing.assert_array_equal(stored.components, expected.components)
    (call,) = seen
    assert call["geometry"].shape == (call["X"].shape[0], EMBED_DIM)
    np.testing.assert_allclose(call["geometry"], expected.transform(call["X"]), rtol=1e-6)

    # Fitted once: the next selection projects with the stored SVD.
    def refit(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the pool's projection was fitted again")

    monkeypatch.setattr(geometry, "fit_projection", refit)
    batch_selection.model_picks(project, latest, 10, quick=False)
    assert len(seen) == 2 and seen[1]["geometry"].shape[1] == EMBED_DIM


def test_without_the_embedding_geometry_nothing_is_fitted(
    api, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(selection, "GEOMETRY", "features")
    project = trained_project(api)
    latest = training_services.latest_model(project)
    assert latest is not None
    batch_selection.model_picks(project, latest, 10, quick=False)
    assert features.geometry_load(project.pk) is None


def test_rows_a_newer_ranking_cleared_are_not_picked(api) -> None:  # type: ignore[no-untyped-def]
    """A retrain writing its ranking clears the scores of the rows it ranks lower and
    leaves their version; a batch picked from the older ranking meanwhile skips them
    (their NULL score once reached the selector as NaN)."""

    project = trained_project(api)
    latest = training_services.latest_model(project)
    assert latest is not None
    scored = Item.objects.filter(
        project=project, state=Item.State.POOL, is_holdout=False, score__isnull=False
    ).order_by(*RANKING_ORDER)
    cleared = list(scored.values_list("id", flat=True)[12:])
    assert cleared
    Item.objects.filter(pk__in=cleared).update(score=None)

    picks = batch_selection.model_picks(project, latest, 10, quick=False)

    assert len(picks.item_ids) == 10
    assert not set(picks.item_ids) & set(cleared)
    assert not set(picks.spares) & set(cleared)


def test_the_fit_reads_only_the_rows_it_samples(api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Above FIT_SAMPLE items the fit gathers its sample's rows, not every stored row
    (at 1M items that took 6 s), and fits what the whole pool's rows would give."""
    monkeypatch.setattr(_space, "FIT_SAMPLE", POOL // 4)
    project = trained_project(api)
    table = features.features_load(project.pk)
    assert table is not None and len(table.ids) == POOL
    whole = fit_projection(table.X, random_state=project.random_state)
    artifacts.artifact_delete(f"features/project_{project.pk}/{features.GEOMETRY_FILE}")

    def gathered(self: Any) -> Any:
        raise AssertionError("every stored row was gathered")

    monkeypatch.setattr(features.FeatureTable, "X", property(gathered))
    fitted = geometry.pool_projection(project, fresh=True)
    np.testing.assert_array_equal(fitted.components, whole.components)
    np.testing.assert_array_equal(fitted.columns, whole.columns)
