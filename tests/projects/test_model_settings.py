"""A project's own model and features (issue 15): allow-listed estimators, their
parameters checked on save, own feature vectors on a text import, server embedders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from projects.models import Item, ModelVersion, Project
from projects.pool import features, snapshot
from projects.training.estimators import estimator_validate, spec_for
from strategies.models import EstimatorModel, train_model

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_data_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Feature rows and models of this test only (project ids repeat between tests)."""
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"


def create(api, **extra):  # type: ignore[no-untyped-def]
    body = {"name": "Own", "kind": "text", "labels": ["pets", "finance"], **extra}
    return api["lead"].post("/api/projects/", body, format="json")


def imported(api, pid: int, rows: list[dict]) -> bool:  # type: ignore[no-untyped-def]
    response = api["lead"].post(f"/api/projects/{pid}/import/", {"file": jsonl(rows)})
    return bool(response.status_code == 201)


def jsonl(rows: list[dict]) -> SimpleUploadedFile:
    return SimpleUploadedFile("pool.jsonl", "\n".join(json.dumps(r) for r in rows).encode())


def test_a_disallowed_estimator_name_is_refused_with_400(api) -> None:  # type: ignore[no-untyped-def]
    for name in ("os.system", "sklearn.svm.SVC", "builtins.eval"):
        response = create(api, estimator=name)
        assert response.status_code == 400, response.content
        assert "estimator" in response.json()
    assert not Project.objects.exists()


def test_estimator_params_are_validated_by_building_and_fitting(api) -> None:  # type: ignore[no-untyped-def]
    bad = [
        {"no_such_param": 1},  # the class does not take it
        {"alpha": -1.0},  # ComplementNB refuses it when fitting
        [1, 2],  # not an object
    ]
    for params in bad:
        response = create(api, estimator="naive_bayes", estimator_params=params)
        assert response.status_code == 400, (params, response.content)
    ok = create(api, estimator="naive_bayes", estimator_params={"alpha": 0.5})
    assert ok.status_code == 201, ok.content
    project = Project.objects.get(pk=ok.json()["id"])
    assert (project.estimator, project.estimator_params) == ("naive_bayes", {"alpha": 0.5})
    assert ok.json()["estimator"] == "naive_bayes"


def test_committee_strategies_and_egl_say_they_need_our_model(api) -> None:  # type: ignore[no-untyped-def]
    for strategy in ("vote_entropy", "kl_consensus", "expected_gradient_length"):
        response = create(api, estimator="random_forest", strategy=strategy)
        assert response.status_code == 400
        assert "needs the logistic_regression" in json.dumps(response.json())
    pid = create(api, estimator="random_forest").json()["id"]
    changed = api["lead"].patch(
        f"/api/projects/{pid}/", {"strategy": "kl_consensus"}, format="json"
    )
    assert changed.status_code == 400
    assert create(api, strategy="kl_consensus").status_code == 201  # ours: fine


def test_only_a_lead_changes_the_estimator(api) -> None:  # type: ignore[no-untyped-def]
    pid = create(api).json()["id"]
    api["lead"].post(
        f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"}, format="json"
    )
    refused = api["ann1"].patch(
        f"/api/projects/{pid}/", {"estimator": "naive_bayes"}, format="json"
    )
    assert refused.status_code == 403
    done = api["lead"].patch(f"/api/projects/{pid}/", {"estimator": "naive_bayes"}, format="json")
    assert done.status_code == 200 and done.json()["estimator"] == "naive_bayes"


def test_spec_for_uses_the_allow_list_and_its_grid_only_when_searching() -> None:
    spec = spec_for("random_forest", {"n_estimators": 7}, search=True)
    assert spec.estimator.n_estimators == 7 and spec.grid and "max_features" in spec.grid
    assert spec_for("random_forest", {}, search=False).grid is None
    with pytest.raises(ValueError, match="unknown estimator"):
        estimator_validate("sklearn.svm.SVC", {}, "margin")


def test_text_import_with_own_features_trains_on_them(api) -> None:  # type: ignore[no-untyped-def]
    pid = create(api).json()["id"]
    rows = [
        {"text": f"item {i}", "features": [float(i % 2), 1.0 - i % 2, 0.5], "label": ""}
        for i in range(12)
    ]
    response = api["lead"].post(f"/api/projects/{pid}/import/", {"file": jsonl(rows)})
    assert response.status_code == 201, response.content
    project = Project.objects.get(pk=pid)
    ids = np.array(sorted(Item.objects.filter(project=project).values_list("id", flat=True)))
    table = snapshot.features_ready(project, ids)
    assert features.representation_load(pid) == {"kind": "own"}
    np.testing.assert_allclose(table.rows(ids[:2]), [[0, 1, 0.5], [1, 0, 0.5]])
    assert Item.objects.get(pk=ids[0]).text == "item 0"  # shown as text
    # Later imports must bring features of the same length, on every line.
    for later in (
        [{"text": "no features"}],
        [{"text": "short", "features": [1.0]}],
    ):
        again = api["lead"].post(f"/api/projects/{pid}/import/", {"file": jsonl(later)})
        assert again.status_code == 400, again.content


@pytest.mark.parametrize(
    "rows",
    [
        [{"text": "a", "features": [1.0, 2.0]}, {"text": "b", "features": [1.0]}],
        [{"text": "a", "features": [1.0, "NaN"]}],
        [{"text": "a", "features": [1e400]}],
        [{"text": "a", "features": []}],
        [{"text": "a", "features": [1.0]}, {"text": "b"}],
    ],
    ids=["length", "string", "infinite", "empty", "mixed"],
)
def test_invalid_own_features_are_refused_with_400(api, rows) -> None:  # type: ignore[no-untyped-def]
    pid = create(api).json()["id"]
    content = "\n".join(json.dumps(r) for r in rows).replace("1e+400", "1e400")
    upload = SimpleUploadedFile("pool.jsonl", content.encode())
    response = api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload})
    assert response.status_code == 400, response.content
    assert not Item.objects.filter(project_id=pid).exists()


def test_pool_mode_text_gets_a_vocabulary_fitted_on_its_pool(api) -> None:  # type: ignore[no-untyped-def]
    pid = create(api).json()["id"]
    rows = [{"text": f"{'cat mat' if i % 2 else 'stock market'} number{i}"} for i in range(20)]
    assert (
        api["lead"].post(f"/api/projects/{pid}/import/", {"file": jsonl(rows)}).status_code == 201
    )
    project = Project.objects.get(pk=pid)
    ids = np.array(sorted(Item.objects.filter(project=project).values_list("id", flat=True)))
    X = snapshot.features_ready(project, ids).rows(ids)
    rep = features.representation_load(pid)
    assert rep is not None and rep["kind"] == "vocabulary"
    assert X.shape == (20, rep["vectorizer"].n_features)
    assert (rep["vectorizer"].transform([r["text"] for r in rows]) != X).nnz == 0


def upper_case_lengths(**options):  # type: ignore[no-untyped-def]
    """A test embedder factory: texts -> [length, capitals, scale]."""
    scale = float(options.get("scale", 1.0))

    def embed(texts):  # type: ignore[no-untyped-def]
        return [[len(t), sum(c.isupper() for c in t), scale] for t in texts]

    return embed


EMBEDDERS = {
    "shouty": {
        "factory": "tests.projects.test_model_settings.upper_case_lengths",
        "options": {"scale": 2.0},
        "description": "length and capitals",
    }
}


@override_settings(WINNOW_EMBEDDERS=EMBEDDERS)
def test_a_server_embedder_named_in_settings_makes_the_rows(  # type: ignore[no-untyped-def]
    api, django_capture_on_commit_callbacks
) -> None:
    assert create(api, embedder="not_configured").status_code == 400
    created = create(api, embedder="shouty")
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    rows = [{"text": "ABC def"}, {"text": "hello"}]
    assert (
        api["lead"].post(f"/api/projects/{pid}/import/", {"file": jsonl(rows)}).status_code == 201
    )
    project = Project.objects.get(pk=pid)
    ids = np.array(sorted(Item.objects.filter(project=project).values_list("id", flat=True)))
    X = snapshot.features_ready(project, ids).rows(ids)
    np.testing.assert_allclose(X, [[7, 3, 2.0], [5, 0, 2.0]])
    assert features.representation_load(pid) == {"kind": "embedder", "name": "shouty"}
    # Another embedder (or none) means other rows: the stored ones are dropped.
    with django_capture_on_commit_callbacks(execute=True):
        api["lead"].patch(f"/api/projects/{pid}/", {"embedder": "builtin"}, format="json")
    assert features.representation_load(pid) is None
    assert features.features_load(pid) is None


def test_the_worker_trains_the_projects_estimator_and_records_what_it_chose(  # type: ignore[no-untyped-def]
    api, client, users
) -> None:
    from projects.training.run import _train_and_score

    pid = create(api, estimator="naive_bayes", hyperparameter_search="grid").json()["id"]
    rows = [
        {"text": f"{'cat mat purr' if i % 2 else 'stock market fell'} n{i}", "label": label}
        for i, label in enumerate(["finance", "pets"] * 15)
    ]
    assert (
        api["lead"].post(f"/api/projects/{pid}/import/", {"file": jsonl(rows)}).status_code == 201
    )
    project = Project.objects.get(pk=pid)
    version = ModelVersion.objects.filter(project=project).order_by("-version").first()
    assert version is not None
    results = _train_and_score(project, version, rows=10)
    assert results["estimator"] == "naive_bayes"
    chosen = results["hyperparameters"]
    assert chosen["searched"] is True and chosen["alpha"] in (0.1, 0.3, 1.0)
    # The same spec through strategies gives the same model (the simulator's path).
    snap = snapshot.pool_snapshot(project)
    model = train_model(
        snap.X[snap.train],
        snap.label[snap.train],
        2,
        random_state=project.random_state,
        spec=spec_for("naive_bayes", {}, search=True),
    )
    assert isinstance(model, EstimatorModel) and model.chosen_ == {
        k: v for k, v in chosen.items() if k != "min_search_labels"
    }
    # The dashboard shows what each version chose.
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.DONE,
        estimator=results["estimator"],
        hyperparameters=chosen,
        train_size=results["train_size"],
    )
    client.force_login(users["lead"])
    page = client.get(reverse("project-dashboard", args=[pid])).content.decode()
    assert 'id="model-hyperparameters"' in page
    assert f"alpha={chosen['alpha']}" in page and "naive_bayes" in page
    assert f"(searched at {chosen['searched_at']} labels)" in page

    # The next fit keeps the last search's choice while the labels have grown by less
    # than a quarter: another grid point recorded as searched stands (no new search).
    other = next(a for a in (0.1, 0.3, 1.0) if a != chosen["alpha"])
    ModelVersion.objects.filter(pk=version.pk).update(hyperparameters={**chosen, "alpha": other})
    later = ModelVersion.objects.create(project=project, version=version.version + 1)
    kept = _train_and_score(project, later, rows=10)["hyperparameters"]
    assert kept["alpha"] == other and kept["searched_at"] == chosen["searched_at"]
    # Another estimator's choice is never carried over.
    ModelVersion.objects.filter(pk=version.pk).update(estimator="logistic_regression")
    fresh = _train_and_score(project, later, rows=10)["hyperparameters"]
    assert fresh["alpha"] == chosen["alpha"]


def mean_colour(**options):  # type: ignore[no-untyped-def]
    """A test image embedder factory: images -> their mean RGB."""

    def embed(images):  # type: ignore[no-untyped-def]
        return [np.asarray(img.convert("RGB"), dtype=float).mean(axis=(0, 1)) for img in images]

    return embed


@override_settings(
    WINNOW_IMAGE_EMBEDDERS={"colour": {"factory": f"{__name__}.mean_colour", "options": {}}}
)
def test_an_image_embedder_makes_the_rows_of_arriving_and_stored_images(  # type: ignore[no-untyped-def]
    api, settings, tmp_path, monkeypatch
) -> None:
    import io

    from PIL import Image

    from projects.stream.buffer import stream_features_flush

    monkeypatch.setattr("projects.tasks.retrain.delay", lambda *a, **k: None)
    settings.MEDIA_ROOT = tmp_path / "media"
    body = {"name": "Pics", "kind": "image", "labels": ["a", "b"], "embedder": "colour"}
    assert (
        api["lead"]
        .post("/api/projects/", {**body, "embedder": "shouty"}, format="json")
        .status_code
        == 400
    )
    created = api["lead"].post("/api/projects/", body, format="json")
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 10, 40)).save(out, "PNG")
    posted = api["lead"].post(
        f"/api/projects/{pid}/stream/",
        {"image": SimpleUploadedFile("x.png", out.getvalue())},
        format="multipart",
    )
    assert posted.status_code == 200, posted.content
    stream_features_flush()
    item = posted.json()["item"]
    table = features.features_load(pid)
    assert table is not None
    np.testing.assert_allclose(table.rows(np.array([item])), [[200, 10, 40]], atol=1)
    # The stored image, featurised again (a lost row), gives the same row.
    project = Project.objects.get(pk=pid)
    np.testing.assert_allclose(
        snapshot.compute_features(project, np.array([item])), [[200, 10, 40]], atol=1
    )
