"""The demo project: real text shipped with the code, ready to label on first start."""

from __future__ import annotations

import csv
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from projects import services
from projects.importers import ParsedRow
from projects.models import Membership, Project

DEMO_CSV = Path(__file__).resolve().parent.parent / "strategies" / "data" / "demo_text.csv"
DEMO_NAME = "Python library docstrings by topic (demo)"
DEMO_PASSWORD = "winnow-demo"
DEMO_USERS = {"demo": Membership.Role.LEAD, "alice": Membership.Role.ANNOTATOR,
              "bob": Membership.Role.ANNOTATOR, "rita": Membership.Role.REVIEWER}


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
            username=username, defaults={"is_staff": username == "demo",
                                         "is_superuser": username == "demo"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        users[username] = user
    rows = demo_rows()
    labels = sorted({label for _, label in rows})
    project = services.project_create(
        user=users["demo"], name=DEMO_NAME, kind="text", labels=labels, batch_size=20,
        stopping=[{"rule": "stabilizing_predictions"}, {"rule": "budget", "labels": 1000}],
    )
    for username, role in DEMO_USERS.items():
        services.membership_add(project=project, username=username, role=role)
    # The pool is unlabeled: the true labels stay in the file for the simulator.
    services.items_import(
        project=project,
        rows=[ParsedRow(line=i, text=text, meta={"source": "CPython stdlib docstring"})
              for i, (text, _label) in enumerate(rows, start=2)],
    )
    return project
