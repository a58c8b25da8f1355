"""Overlap 2 under 20 concurrent clients, with abandoned leases, on either database.

Every item must end with exactly its two annotations from two different people:
not over-assigned, and items whose annotator walked away come back when the lease
expires and are finished by someone else.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from annotator.models import Assignment
from projects import services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Annotation, Item, Project
from tests.support.services import WebServer

pytestmark = [pytest.mark.django_db(transaction=True)]

CLIENTS = 20
ABANDONING = 3  # these clients take one item, never label it, and leave
POOL = 40
LEASE_SECONDS = 3
LABELS = ["pets", "finance", "sport"]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WINNOW_LEASE_SECONDS", str(LEASE_SECONDS))
    web = WebServer.start(workers=4, threads=2)
    try:
        yield web
    finally:
        web.stop()


def _team() -> tuple[Project, dict[str, str]]:
    users = get_user_model().objects
    lead = users.create_user("olead", password="x")
    project = services.project_create(
        user=lead,
        name="Overlap",
        kind="text",
        labels=LABELS,
        batch_size=POOL,
        overlap=2,
        holdout_fraction=0,
    )
    tokens = {}
    for i in range(CLIENTS):
        user = users.create_user(f"o{i:02d}", password="x")
        services.membership_add(project=project, username=user.username, role="annotator")
        tokens[user.username] = Token.objects.create(user=user).key
    return project, tokens


def _work(base: str, token: str, abandon: bool, errors: list[str]) -> list[int]:
    """next/ and annotate until nothing is left; the ids this client was handed."""
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    handed: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = http.get(f"{base}/next/", timeout=30)
        if response.status_code == 204:
            if "taken" in response.headers.get("X-Reason", ""):
                time.sleep(0.3)  # leases may expire and hand items back
                continue
            return handed
        if response.status_code != 200:
            errors.append(f"next {response.status_code} {response.text[:200]}")
            return handed
        item_id = response.json()["item"]["id"]
        handed.append(item_id)
        if abandon:
            return handed
        body = {"item": item_id, "label": LABELS[item_id % 3], "confidence": 4}
        posted = http.post(f"{base}/annotations/", json=body, timeout=30)
        if posted.status_code != 201:
            errors.append(f"annotate {posted.status_code} {posted.text[:200]}")
            return handed
    errors.append("a client ran out of time")
    return handed


def test_overlap_two_each_item_gets_exactly_two_distinct_annotators_under_load(server):  # type: ignore[no-untyped-def]
    project, tokens = _team()
    ingest.items_import(project=project, rows=_rows())
    base = f"{server.url}/api/projects/{project.pk}"
    errors: list[str] = []
    names = sorted(tokens)
    barrier = threading.Barrier(CLIENTS)

    def run(i: int) -> list[int]:
        barrier.wait(timeout=30)
        return _work(base, tokens[names[i]], i < ABANDONING, errors)

    with ThreadPoolExecutor(CLIENTS) as threads:
        handed = dict(zip(names, threads.map(run, range(CLIENTS)), strict=True))

    assert errors == [], errors[:5]
    for name, ids in handed.items():
        assert len(ids) == len(set(ids)), f"{name} was handed an item twice"
    items = list(Item.objects.filter(project=project))
    assert len(items) == POOL
    per_item = Counter(Annotation.objects.filter(project=project).values_list("item_id", flat=True))
    pairs = set(Annotation.objects.filter(project=project).values_list("item_id", "annotator_id"))
    assert len(pairs) == sum(per_item.values()), "an annotator labelled an item twice"
    for item in items:
        assert item.required == 2, item
        assert per_item[item.pk] == item.annotation_count == 2, item
        assert item.assigned == 2, f"over- or under-assigned: {item.pk} {item.assigned}"
        assert (item.state, item.label) == ("labeled", LABELS[item.pk % 3])
    expired = Assignment.objects.filter(project=project, state="expired")
    assert expired.count() == ABANDONING
    assert not Annotation.objects.filter(
        project=project, annotator__username__in=names[:ABANDONING]
    ).exists()


def _rows() -> list[ParsedRow]:
    return [ParsedRow(line=i + 2, text=f"text {i} about {LABELS[i % 3]}") for i in range(POOL)]
