"""Agreement per batch: the figures of each batch's items, and the chart on the quality panel."""

from __future__ import annotations

import pytest
from django.test import Client

from annotator.quality.agreement import fleiss_kappa
from annotator.quality.selectors import agreement_over_time
from projects import services
from projects.models import Annotation, Batch, Item

pytestmark = pytest.mark.django_db

# Per batch, the two annotators' labels of four items: batch 1 agrees fully, batch 2 half.
LABELS = {
    1: (["a", "b", "a", "b"], ["a", "b", "a", "b"]),
    2: (["a", "a", "b", "b"], ["a", "b", "b", "a"]),
}


@pytest.fixture
def project(users):  # type: ignore[no-untyped-def]
    project = services.project_create(
        user=users["lead"], name="Pairs", kind="text", labels=["a", "b"]
    )
    for name in ("ann1", "ann2"):
        services.membership_add(project=project, username=name, role="annotator")
    for number, (first, second) in LABELS.items():
        batch = Batch.objects.create(project=project, number=number, kind=Batch.Kind.MODEL)
        for one, two in zip(first, second, strict=True):
            item = Item.objects.create(project=project, text="t", batch=batch)
            for user, label in ((users["ann1"], one), (users["ann2"], two)):
                Annotation.objects.create(project=project, item=item, annotator=user, label=label)
    return project


def test_each_batch_gets_its_own_figures(project) -> None:  # type: ignore[no-untyped-def]
    points = agreement_over_time(project)
    assert [(p["batch"], p["items"]) for p in points] == [(1, 4), (2, 4)]
    assert points[0]["fleiss_kappa"] == pytest.approx(1.0)
    first, second = LABELS[2]
    codes = [0 if x == "a" else 1 for x in first + second]
    expected = fleiss_kappa([0, 1, 2, 3] * 2, [0] * 4 + [1] * 4, codes, 2)
    assert points[1]["fleiss_kappa"] == pytest.approx(expected)


def test_the_quality_panel_charts_agreement_for_leads_only(users, project) -> None:  # type: ignore[no-untyped-def]
    lead, annotator = Client(), Client()
    lead.force_login(users["lead"])
    annotator.force_login(users["ann1"])
    url = f"/projects/{project.pk}/quality/"
    page = lead.get(url).content.decode()
    assert "Agreement over time" in page and "<caption>Agreement per batch" in page
    assert "Agreement over time" not in annotator.get(url).content.decode()
