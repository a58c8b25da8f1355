"""The HTML pages: who sees what, and the forms that configure a project."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.models import Assignment
from projects import services
from projects.models import Item, Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(users):  # type: ignore[no-untyped-def]
    project = services.project_create(
        user=users["lead"], name="Pages", kind="text", labels=["a", "b"], batch_size=3
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    return project


def test_lead_sees_every_page(client, users, project):  # type: ignore[no-untyped-def]
    client.force_login(users["lead"])
    for url in (
        "/",
        "/projects/new/",
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/settings/",
        f"/projects/{project.pk}/import/",
        f"/projects/{project.pk}/export/",
        f"/projects/{project.pk}/members/",
        f"/projects/{project.pk}/annotate/",
        f"/projects/{project.pk}/review/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert b"Pages" in client.get("/").content


def test_outsider_gets_404_and_annotator_403_on_pages(client, users, project):  # type: ignore[no-untyped-def]
    client.force_login(users["outsider"])
    for url in ("", "settings/", "annotate/", "export/", "review/"):
        assert client.get(f"/projects/{project.pk}/{url}").status_code == 404, url
    assert b"Pages" not in client.get("/").content
    client.force_login(users["ann1"])
    for url in ("settings/", "import/", "export/", "review/"):
        assert client.get(f"/projects/{project.pk}/{url}").status_code == 403, url
    assert client.get(f"/projects/{project.pk}/").status_code == 200


def test_annotators_dashboard_shows_their_own_work_not_others_agreement(client, users, project):  # type: ignore[no-untyped-def]
    services.membership_add(project=project, username="ann2", role="annotator")
    client.force_login(users["lead"])
    lead_page = client.get(f"/projects/{project.pk}/").content.decode()
    panel = f"/projects/{project.pk}/quality/"  # the agreement cards, loaded by htmx
    assert panel in lead_page and "/settings/" in lead_page
    lead_panel = client.get(panel).content.decode()
    assert 'id="agreement"' in lead_panel and "ann2" in lead_panel
    client.force_login(users["ann1"])
    page = client.get(f"/projects/{project.pk}/").content.decode()
    own = client.get(panel).content.decode()
    assert 'id="agreement"' not in own and "Your work" in own
    assert "ann2" not in page + own  # no other annotator's figures
    for lead_only in ("/settings/", "/import/", "/export/", "/review/"):
        assert f"/projects/{project.pk}{lead_only}" not in page, lead_only


def test_create_project_through_the_form_with_stopping_rules(client, users):  # type: ignore[no-untyped-def]
    client.force_login(users["ann2"])
    response = client.post(
        "/projects/new/",
        {
            "name": "Via UI",
            "kind": "text",
            "labels": "spam\nham",
            "batch_size": 10,
            "strategy": "entropy",
            "selector": "kcenter",
            "overlap": 1,
            "agreement_fraction": 0,
            "agreement_overlap": 2,
            "consensus_method": "majority",
            "consensus_threshold": 0.5,
            "gold_fraction": 0,
            "holdout_fraction": 0.2,
            "stop_plateau": "on",
            "stop_plateau__epsilon": "0.01",
            "stop_plateau__window": "4",
            "stop_budget__labels": "300",
        },
    )
    project = Project.objects.get(name="Via UI")
    assert response.status_code == 302
    assert project.labels == ["spam", "ham"] and project.strategy == "entropy"
    assert project.stopping == [{"rule": "plateau", "epsilon": 0.01, "window": 4}]
    assert project.memberships.get().user == users["ann2"]


def test_settings_form_shows_errors_and_keeps_labels(client, users, project):  # type: ignore[no-untyped-def]
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert "Stop when successive models agree on a fixed stop set" in page
    response = client.post(
        f"/projects/{project.pk}/settings/",
        {
            "name": "Pages",
            "labels": "a",
            "batch_size": 3,
            "strategy": "margin",
            "selector": "cluster",
            "overlap": 1,
            "agreement_fraction": 0,
            "agreement_overlap": 2,
            "consensus_method": "majority",
            "consensus_threshold": 0.5,
            "gold_fraction": 0,
            "holdout_fraction": 0.2,
            "stop_budget": "on",
            "stop_budget__labels": "50",
        },
    )
    assert response.status_code == 200
    assert "can be added but not removed" in response.content.decode()
    project.refresh_from_db()
    assert project.labels == ["a", "b"] and project.stopping == []


def test_import_page_reports_rows_and_rejections(client, users, project):  # type: ignore[no-untyped-def]
    client.force_login(users["lead"])
    good = SimpleUploadedFile("p.csv", b"text,label\nhello,a\n,b\n")
    page = client.post(f"/projects/{project.pk}/import/", {"file": good}, HTTP_HX_REQUEST="true")
    text = page.content.decode()
    assert "<strong>1</strong> items imported" in text and "missing text" in text
    bad = SimpleUploadedFile("p.csv", "text\ncaf\xe9\n".encode("latin-1"))
    text = client.post(f"/projects/{project.pk}/import/", {"file": bad}).content.decode()
    assert "not UTF-8" in text
    assert Item.objects.filter(project=project).count() == 1


def test_dashboard_shows_stream_query_rate_and_label_mix(client, api, users):  # type: ignore[no-untyped-def]
    project = services.project_create(
        user=users["lead"], name="Stream", kind="text", labels=["a", "b"], stream_budget=0.2
    )
    for i in range(10):
        response = api["lead"].post(
            f"/api/projects/{project.pk}/stream/", {"text": f"arrival {i}"}, format="json"
        )
        assert response.status_code in (200, 201), response.content
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'id="stream"' in page and "10 arrivals" in page and "budget of 0.200" in page


def test_image_import_job_progress_fragment(client, users):  # type: ignore[no-untyped-def]
    import io
    import zipfile

    from PIL import Image

    project = services.project_create(
        user=users["lead"], name="Pics", kind="image", labels=["x", "y"]
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            png = io.BytesIO()
            Image.new("RGB", (16, 16), (i * 60, 0, 0)).save(png, "PNG")
            archive.writestr(f"x/{i}.png", png.getvalue())
    client.force_login(users["lead"])
    upload = SimpleUploadedFile("p.zip", buffer.getvalue())
    page = client.post(f"/projects/{project.pk}/import/", {"file": upload}, HTTP_HX_REQUEST="true")
    text = page.content.decode()
    assert "<strong>3</strong> items imported" in text and 'id="import-job"' in text
    job = project.imports.get()
    fragment = client.get(f"/projects/{project.pk}/imports/{job.pk}/").content.decode()
    assert "of 3 images" in fragment and 'hx-trigger="every 1s"' in fragment
    client.force_login(users["outsider"])
    assert client.get(f"/projects/{project.pk}/imports/{job.pk}/").status_code == 404


def test_admin_lists_every_model(client, make_user):  # type: ignore[no-untyped-def]
    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    for path in (
        "projects/project",
        "projects/membership",
        "projects/item",
        "projects/batch",
        "projects/modelversion",
        "projects/selectionlog",
        "projects/importjob",
        "annotator/assignment",
        "projects/annotation",
        "annotator/reviewdecision",
    ):
        assert client.get(f"/admin/{path}/").status_code == 200, path


def test_opening_the_annotate_page_claims_nothing_until_its_panel_posts(client, users, project):  # type: ignore[no-untyped-def]
    client.force_login(users["lead"])
    upload = SimpleUploadedFile("p.csv", b"text\n" + b"".join(b"row %d\n" % i for i in range(8)))
    client.post(f"/projects/{project.pk}/import/", {"file": upload})
    client.force_login(users["ann1"])
    page = client.get(f"/projects/{project.pk}/annotate/").content.decode()
    assert not Assignment.objects.exists()  # a cross-site link cannot hand out a lease
    assert f'hx-post="/projects/{project.pk}/annotate/" hx-trigger="load"' in page
    panel = client.post(f"/projects/{project.pk}/annotate/", HTTP_HX_REQUEST="true")
    assert 'id="item"' in panel.content.decode()
    assert Assignment.objects.filter(annotator=users["ann1"]).count() == 1
