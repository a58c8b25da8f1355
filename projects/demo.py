"""The demo project: real text shipped with the code, ready to label on first start."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from projects import services
from projects.ingest import images as image_import
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Membership, Project

DEMO_CSV = Path(__file__).resolve().parent.parent / "strategies" / "data" / "demo_text.csv"
DEMO_NAME = "Python library docstrings by topic (demo)"
DEMO_PASSWORD = "winnow-demo"
DEMO_GUIDELINES = """Label each docstring by **what the code is for**, not by the words it uses.

- A function that *parses* an e-mail header is about e-mail, even if it mentions strings.
- When two topics fit, pick the one a maintainer would file it under.
- Unsure? Pick your best guess and set a low confidence (`z` or `x`) rather than skipping.
"""
DEMO_USERS = {
    "demo": Membership.Role.LEAD,
    "alice": Membership.Role.ANNOTATOR,
    "bob": Membership.Role.ANNOTATOR,
    "rita": Membership.Role.REVIEWER,
}


def demo_rows(path: Path = DEMO_CSV) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(row["text"], row["label"]) for row in csv.DictReader(fh)]


@transaction.atomic
def demo_create() -> Project:
    """Create the demo users and project once; later calls return the existing project."""
    existing = Project.objects.filter(name=DEMO_NAME).first()
    if existing is not None:
        return existing
    users = {}
    for username in DEMO_USERS:
        user, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={"is_staff": username == "demo", "is_superuser": username == "demo"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        users[username] = user
    rows = demo_rows()
    labels = sorted({label for _, label in rows})
    project = services.project_create(
        user=users["demo"],
        name=DEMO_NAME,
        kind="text",
        labels=labels,
        batch_size=20,
        stopping=[{"rule": "stabilizing_predictions"}, {"rule": "budget", "labels": 1000}],
        guidelines=DEMO_GUIDELINES,
        show_suggestion=True,
    )
    for username, role in DEMO_USERS.items():
        services.membership_add(project=project, username=username, role=role)
    # The pool is unlabeled: the true labels stay in the file for the simulator.
    ingest.items_import(
        project=project,
        rows=[
            ParsedRow(line=i, text=text, meta={"source": "CPython stdlib docstring"})
            for i, (text, _label) in enumerate(rows, start=2)
        ],
    )
    return project


DEMO_IMAGES_NAME = "Handwritten digits, scikit-learn (image demo)"


def digits_png_zip(*, scale: int = 4) -> bytes:
    """scikit-learn's 1797 handwritten digits as PNGs (8×8 scaled up), zipped, no labels."""
    import zipfile

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed
        for i, pixels in enumerate(digits.images):
            grey = Image.fromarray((255 - pixels * (255 / 16)).astype(np.uint8), "L")
            big = grey.resize((8 * scale, 8 * scale), Image.Resampling.NEAREST)
            png = io.BytesIO()
            big.save(png, "PNG")
            archive.writestr(f"digit-{i:04d}.png", png.getvalue())
    return out.getvalue()


def demo_images_create() -> Project:
    """The image demo: digits as an unlabeled pool; the worker makes thumbnails and features."""

    existing = Project.objects.filter(name=DEMO_IMAGES_NAME).first()
    if existing is not None:
        return existing
    text_demo = demo_create()  # makes the demo users
    lead = get_user_model().objects.get(username="demo")
    with transaction.atomic():
        project = services.project_create(
            user=lead,
            name=DEMO_IMAGES_NAME,
            kind="image",
            labels=[str(d) for d in range(10)],
            batch_size=20,
            stopping=[{"rule": "stabilizing_predictions"}],
        )
        for username, role in DEMO_USERS.items():
            services.membership_add(project=project, username=username, role=role)
        image_import.import_image_upload(
            project=project, upload=io.BytesIO(digits_png_zip()), name="digits.zip", user=lead
        )
    assert text_demo.pk != project.pk
    return project
