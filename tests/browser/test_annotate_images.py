"""Labelling an image batch with the keyboard; images come only through the members' view."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from PIL import Image
from sklearn.datasets import load_digits

from projects import services
from projects.ingest import images as image_import
from projects.models import Item
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BATCH = 4


def digits_zip(n: int) -> tuple[bytes, dict[str, int]]:
    digits = load_digits()
    out, truth = io.BytesIO(), {}
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(n):
            img = Image.fromarray((255 - digits.images[i] * 15).astype(np.uint8), "L")
            buffer = io.BytesIO()
            img.resize((64, 64), Image.Resampling.NEAREST).save(buffer, "PNG")
            archive.writestr(f"d{i:03d}.png", buffer.getvalue())
            truth[f"d{i:03d}.png"] = int(digits.target[i])
    return out.getvalue(), truth


@pytest.fixture
def image_project() -> tuple[Any, dict[str, int]]:
    lead = get_user_model().objects.create_user("lead", password="pw-lead")
    get_user_model().objects.create_user("ann1", password="pw-ann1")
    get_user_model().objects.create_user("outsider", password="pw-outsider")
    project = services.project_create(
        user=lead,
        name="Digits",
        kind="image",
        labels=[str(d) for d in range(10)],
        batch_size=BATCH,
        holdout_fraction=0.0,
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    data, truth = digits_zip(30)
    result = image_import.import_image_upload(
        project=project, upload=io.BytesIO(data), name="d.zip", user=lead
    )
    assert result["created"] == 30, result
    return project, truth


def test_image_batch_labelled_by_keyboard(live_server: Any, page: Any, image_project: Any) -> None:
    project, truth = image_project
    login(page, live_server.url, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    for _ in range(BATCH):
        image = page.locator("#item img.item-image")
        image.wait_for()
        page.wait_for_function("() => document.querySelector('#item img').naturalWidth === 64")
        item_id = page.locator("#item").get_attribute("data-item")
        digit = truth[Item.objects.get(pk=item_id).meta["path"]]
        page.keyboard.press("0" if digit == 9 else str(digit + 1))
        page.wait_for_function(
            "id => !document.querySelector('#item') || "
            "document.querySelector('#item').dataset.item !== id",
            arg=item_id,
        )
    labelled = Item.objects.filter(project=project, label__isnull=False)
    assert labelled.count() == BATCH
    assert all(int(i.label) == truth[i.meta["path"]] for i in labelled)

    page.context.clear_cookies()
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    # The selection log is below the charts, and its thumbnails load lazily: scroll to it.
    page.locator("table img.thumb").last.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const t = document.querySelectorAll('table img.thumb');"
        " return t.length > 0 && [...t].every(i => i.complete && i.naturalWidth > 0); }"
    )

    src = f"{live_server.url}/api/projects/{project.pk}/items/{labelled[0].pk}/image/"
    page.context.clear_cookies()
    login(page, live_server.url, "outsider", "pw-outsider")
    assert page.goto(src).status == 404
