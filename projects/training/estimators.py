"""The project's model: an estimator from the server's allow-list, its parameters, search.

A project names an entry of ``settings.WINNOW_ESTIMATORS``; only those classes are ever
built, with the entry's default params under the project's ``estimator_params``. The
worker (``training.run``) and ``strategies.simulate`` train through the same
``strategies.models.ModelSpec``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

from projects.models import ModelVersion
from strategies.model_search import MIN_SEARCH_LABELS
from strategies.models import LinearModel, ModelSpec
from strategies.query import LINEAR_ONLY

OURS = "logistic_regression"
MAX_PARAMS_CHARS = 2000


def estimator_choices() -> dict[str, str]:
    return {name: str(e.get("description", name)) for name, e in settings.WINNOW_ESTIMATORS.items()}


def _entry(name: str) -> dict[str, Any]:
    entry = settings.WINNOW_ESTIMATORS.get(name)
    if entry is None:
        raise ValueError(f"unknown estimator {name!r}; choose one of {sorted(estimator_choices())}")
    return dict(entry)


def estimator_build(name: str, params: dict[str, Any] | None = None) -> Any:
    """An unfitted instance of the allow-listed class, or ValueError saying what is wrong."""
    entry = _entry(name)
    merged = {**entry.get("params", {}), **(params or {})}
    cls = import_string(entry["path"])
    try:
        estimator = cls(n_classes=2, **merged) if cls is LinearModel else cls(**merged)
    except TypeError as exc:
        raise ValueError(f"{name} does not take these parameters: {exc}") from None
    if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "fit"):
        raise ValueError(f"{name} has no predict_proba")
    return estimator


def estimator_validate(name: str, params: Any, strategy: str) -> dict[str, Any]:
    """Check a project's model choice on save: build it and fit it on a toy problem.

    Parameters must be a JSON object of names the class takes, with values it accepts
    (the toy fit catches values a constructor stores without checking, and an estimator
    whose probabilities are not a distribution). Strategies that need our own linear
    model are refused with any other estimator.
    """
    if not isinstance(params, dict):
        raise ValueError("estimator_params must be a JSON object")
    if len(repr(params)) > MAX_PARAMS_CHARS:
        raise ValueError(f"estimator_params longer than {MAX_PARAMS_CHARS} characters")
    if name != OURS and strategy in LINEAR_ONLY:
        raise ValueError(
            f"strategy {strategy} needs the logistic_regression estimator (a committee of it "
            "or its closed-form gradient); choose another strategy or that estimator"
        )
    spec = spec_for(name, params)
    rng = np.random.default_rng(0)
    X, y = np.abs(rng.normal(size=(24, 4))), np.repeat([0, 1, 2], 8)
    X[y == 1, 0] += 2.0
    try:
        model = spec.build(3, 0).fit(X, y)  # type: ignore[attr-defined]
        proba = np.asarray(model.predict_proba(X))
    except Exception as exc:  # any failure of a user's parameters is a 400, not a 500
        raise ValueError(f"{name} with these parameters cannot be trained: {exc}") from None
    if proba.shape != (24, 3) or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(f"{name}'s predict_proba does not give class probabilities")
    return params


def spec_for(name: str, params: dict[str, Any] | None, search: bool = False) -> ModelSpec:
    """The ``ModelSpec`` of a project's choice (ours: None estimator = ``LinearModel``)."""
    if name == OURS:
        _entry(name)
        estimator_build(name, params)  # refuses parameters LinearModel does not take
        return ModelSpec(params=dict(params or {}), name=OURS)
    grid = _entry(name).get("grid") or None if search else None
    return ModelSpec(estimator=estimator_build(name, params), grid=grid, name=name)


def project_spec(project: Any) -> ModelSpec:
    return spec_for(
        project.estimator, project.estimator_params, project.hyperparameter_search == "grid"
    )


def previous_choice(project: Any, version: Any, spec: ModelSpec) -> dict[str, Any] | None:
    """What the project's last finished fit of this estimator chose, for the next fit to
    keep while it stands (``strategies.model_search.reusable_choice``): searching every fit
    cost most of a steady retrain's fit."""
    last = (
        ModelVersion.objects.filter(
            project=project, status=ModelVersion.Status.DONE, version__lt=version.version
        )
        .order_by("-version")
        .values_list("estimator", "hyperparameters")
        .first()
    )
    if last is None or last[0] != spec.name:
        return None
    return dict(last[1] or {})


def chosen_values(model: Any) -> dict[str, Any]:
    """What a fit chose (the C of ours, the grid point of a search), for the dashboard."""
    chosen = dict(getattr(model, "chosen_", {}) or {})
    chosen["min_search_labels"] = MIN_SEARCH_LABELS
    return chosen
