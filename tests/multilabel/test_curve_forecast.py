"""The learning curve and the forecast of a multi-label project read micro F1, the
task's headline metric (strategies.metrics.HEADLINE_METRIC), not accuracy."""

from __future__ import annotations

import pytest
from django.test import Client

from projects.charts import learning_curve_svg
from projects.models import ModelVersion, Project
from strategies.forecast import power_law

pytestmark = pytest.mark.django_db


def _micro(value: float) -> dict[str, float]:
    return {
        "micro_f1": value,
        "micro_f1_low": value - 0.1,
        "micro_f1_high": value + 0.05,
        "macro_f1": value - 0.05,
        "subset_accuracy": value / 2,
        "n": 2000,
    }


def test_curve_draws_the_metric_it_is_given_and_names_it() -> None:
    curve = [{"version": 1, "labels": 50, "metrics": _micro(0.5)}]
    assert learning_curve_svg(curve) is None  # no accuracy recorded
    chart = learning_curve_svg(curve, task="multilabel")
    assert chart is not None
    assert chart["series"][0]["name"] == "micro-F1"
    assert chart["table"]["columns"][2] == "Micro-F1"
    assert chart["table"]["rows"] == [["v1", 50, "0.500", "0.400 to 0.550", "0.450"]]


def _versions(project: Project) -> None:
    for version, labels in enumerate([20, 40, 60, 80, 100, 120], start=1):
        ModelVersion.objects.create(
            project=project,
            version=version,
            status=ModelVersion.Status.DONE,
            labels_total=labels,
            metrics=_micro(float(power_law(labels, 0.92, 0.8, 0.5))),
        )


def test_status_forecasts_micro_f1_on_a_multilabel_project(api, users):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/",
        {"name": "Tags", "kind": "text", "labels": ["a", "b"], "task": "multilabel"},
        format="json",
    )
    project = Project.objects.get(pk=response.json()["id"])
    _versions(project)
    forecast = api["lead"].get(f"/api/projects/{project.pk}/status/").json()["forecast"]
    assert forecast is not None
    assert forecast["metric"] == "micro_f1"
    assert forecast["current"] == pytest.approx(float(power_law(120, 0.92, 0.8, 0.5)))
    lead = Client()
    lead.force_login(users["lead"])
    page = lead.get(f"/projects/{project.pk}/").content.decode()
    assert "<caption>Learning curve" in page and "holdout micro-F1" in page
