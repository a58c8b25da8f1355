"""Many annotators at once against a real multi-process gunicorn (issue 2).

Each scenario runs on PostgreSQL (`SELECT ... FOR UPDATE SKIP LOCKED`) and on the
embedded SQLite default (IMMEDIATE transactions), where a peer hands out 8-16%
duplicate tasks: here no item may go to two annotators beyond its overlap, every
item of the batch must be handed out, and no request may fail ("database is locked").
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.support.services import unheard_broker_url
from tests.support.sites import Site

pytestmark = [pytest.mark.django_db(transaction=True)]

CLIENTS = 20
LABELS = ["pets", "finance", "sport"]
TIMEOUT = 60.0

_INSPECT = """
import json
from projects.models import Annotation
from annotator.models import Assignment
from projects.models import Item
items = list(Item.objects.filter(project_id=%d).values(
    "id", "batch_id", "batch_rank", "required", "assigned", "annotation_count", "state"))
annotations = list(Annotation.objects.filter(project_id=%d).values_list(
    "item_id", "annotator__username"))
assignments = list(Assignment.objects.filter(project_id=%d).values_list(
    "item_id", "annotator__username", "state"))
print(json.dumps({"items": items, "annotations": annotations, "assignments": assignments}))
"""

_EXPIRE = """
import json
from datetime import timedelta
from django.utils import timezone
from annotator.models import Assignment
leases = Assignment.objects.filter(
    project_id=%d, annotator__username__in=json.loads(%r), state="active")
print(json.dumps(leases.update(expires_at=timezone.now() - timedelta(seconds=1))))
"""


@pytest.fixture(
    scope="module",
    params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"],
)
def site(
    request: pytest.FixtureRequest, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """gunicorn with 4 worker processes, on PostgreSQL or on a fresh embedded install."""
    if request.param == "postgres":
        running = Site.on_test_database(workers=4, CELERY_BROKER_URL=unheard_broker_url())
    else:
        running = Site.embedded(tmp_path_factory.mktemp("embedded"), workers=4)
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Team:
    """A project with a lead and CLIENTS annotators, each with their own HTTP session."""

    site: Site
    project_id: int
    lead: requests.Session
    annotators: dict[str, requests.Session]
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def api(self, path: str) -> str:
        return f"{self.site.url}/api/projects/{self.project_id}/{path}"

    def record_error(self, who: str, response: requests.Response) -> None:
        with self.lock:
            self.errors.append(f"{who}: {response.status_code} {response.text[:300]}")

    def state(self) -> dict[str, Any]:
        pid = self.project_id
        state: dict[str, Any] = self.site.python(_INSPECT % (pid, pid, pid))
        return state


def make_team(site: Site, name: str, *, pool: int, overlap: int) -> Team:
    """Create the project over HTTP and import a pool that fits in exactly one batch."""
    annotators = [f"{name}-ann{i:02d}" for i in range(CLIENTS)]
    tokens = site.tokens([f"{name}-lead", *annotators])
    lead = site.session(tokens[f"{name}-lead"])
    response = lead.post(
        f"{site.url}/api/projects/",
        json={
            "name": name,
            "kind": "text",
            "labels": LABELS,
            "batch_size": pool,
            "overlap": overlap,
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    pid = response.json()["id"]
    for username in annotators:
        added = lead.post(
            f"{site.url}/api/projects/{pid}/members/",
            json={"username": username, "role": "annotator"},
            timeout=TIMEOUT,
        )
        assert added.status_code == 201, added.text
    rows = "".join(f"item {i} of {name} about {LABELS[i % 3]} and more\n" for i in range(pool))
    imported = lead.post(
        f"{site.url}/api/projects/{pid}/import/",
        files={"file": ("pool.csv", f"text\n{rows}".encode())},
        timeout=TIMEOUT,
    )
    assert imported.status_code == 201 and imported.json()["created"] == pool, imported.text
    return Team(site, pid, lead, {u: site.session(tokens[u]) for u in annotators})


def claim(team: Team, who: str) -> int | None:
    """One `next/` call: the item handed out, or None for 204."""
    response = team.annotators[who].get(team.api("next/"), timeout=TIMEOUT)
    if response.status_code == 204:
        return None
    if response.status_code != 200:
        team.record_error(who, response)
        return None
    item_id: int = response.json()["item"]["id"]
    return item_id


def annotate(team: Team, who: str, item_id: int, *, repeat: bool = False) -> int:
    body = {"item": item_id, "label": LABELS[item_id % 3], "confidence": 4}
    response = team.annotators[who].post(team.api("annotations/"), json=body, timeout=TIMEOUT)
    if response.status_code != 201:
        team.record_error(who, response)
    if repeat:  # a client retrying the same POST: it must create nothing
        again = team.annotators[who].post(team.api("annotations/"), json=body, timeout=TIMEOUT)
        if again.status_code != 200:
            team.record_error(f"{who} (repeat)", again)
    return response.status_code


def at_once(team: Team, action: Callable[[str], Any]) -> dict[str, Any]:
    """Run `action` for every annotator in its own thread, all released together."""
    barrier = threading.Barrier(CLIENTS)

    def run(who: str) -> Any:
        barrier.wait(timeout=TIMEOUT)
        return action(who)

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = dict(zip(team.annotators, pool.map(run, team.annotators), strict=True))
    return results


def label_until_nothing_left(team: Team, *, repeat: bool = False) -> dict[str, list[int]]:
    """Every annotator: next/, annotate, again, until 204. Returns who was handed what."""

    def work(who: str) -> list[int]:
        handed: list[int] = []
        while (item_id := claim(team, who)) is not None:
            handed.append(item_id)
            if annotate(team, who, item_id, repeat=repeat) != 201:
                break
        return handed

    return at_once(team, work)


def ranks(state: dict[str, Any]) -> dict[int, int]:
    return {row["id"]: row["batch_rank"] for row in state["items"]}


def assert_every_item_done_once_per_required(state: dict[str, Any], required: int) -> None:
    per_item = Counter(item_id for item_id, _ in state["annotations"])
    pairs = {(item_id, who) for item_id, who in state["annotations"]}
    assert len(pairs) == len(state["annotations"]), "an annotator labelled an item twice"
    for row in state["items"]:
        assert row["required"] == required, row
        assert row["annotation_count"] == per_item[row["id"]] == required, row
        assert row["assigned"] == required, f"over- or under-assigned: {row}"
        assert row["state"] == "labeled", row


def test_twenty_clients_never_get_the_same_item(site: Site) -> None:
    team = make_team(site, "handout", pool=60, overlap=1)

    first = at_once(team, lambda who: claim(team, who))
    handed = label_until_nothing_left(team)

    assert team.errors == []
    first_items = [item_id for item_id in first.values() if item_id is not None]
    assert len(first_items) == CLIENTS and len(set(first_items)) == CLIENTS, first
    state = team.state()
    rank_of = ranks(state)
    # Each claimer gets the highest-ranked free item, so the first round is the top 20.
    assert sorted(rank_of[i] for i in first_items) == list(range(CLIENTS))
    # Every client holds its first item until it labels it, so `handed` repeats it first.
    all_handed = [item_id for items in handed.values() for item_id in items]
    assert Counter(all_handed).most_common(1)[0][1] == 1, "an item was handed out twice"
    assert set(all_handed) == set(rank_of) and len(all_handed) == 60
    assert_every_item_done_once_per_required(state, required=1)
    again = at_once(team, lambda who: team.annotators[who].get(team.api("next/"), timeout=TIMEOUT))
    assert {response.status_code for response in again.values()} == {204}


def test_concurrent_annotations_reach_exactly_the_overlap(site: Site) -> None:
    team = make_team(site, "overlap", pool=40, overlap=2)

    handed = label_until_nothing_left(team, repeat=True)

    assert team.errors == []
    for who, items in handed.items():
        assert len(items) == len(set(items)), f"{who} was handed an item twice"
    per_item = Counter(item_id for items in handed.values() for item_id in items)
    assert len(per_item) == 40 and set(per_item.values()) == {2}
    assert_every_item_done_once_per_required(team.state(), required=2)


def test_expired_leases_return_items_to_the_queue(site: Site) -> None:
    team = make_team(site, "leases", pool=30, overlap=1)
    first = at_once(team, lambda who: claim(team, who))
    assert None not in first.values() and len(set(first.values())) == CLIENTS, team.errors
    walked_away = sorted(team.annotators)[:10]
    expired = team.site.python(_EXPIRE % (team.project_id, json.dumps(walked_away)))
    assert expired == 10

    def work(who: str) -> list[int]:
        if who not in walked_away:
            annotate(team, who, first[who])
        handed: list[int] = []
        while (item_id := claim(team, who)) is not None:
            handed.append(item_id)
            annotate(team, who, item_id)
        return handed

    handed = at_once(team, work)

    assert team.errors == []
    abandoned = {first[who] for who in walked_away}
    regiven = Counter(item_id for items in handed.values() for item_id in items)
    assert abandoned <= set(regiven), "an abandoned item never came back"
    assert max(regiven.values()) == 1
    for who in walked_away:
        assert first[who] not in handed[who]
    state = team.state()
    assert_every_item_done_once_per_required(state, required=1)
    lapsed = [(item_id, who) for item_id, who, st in state["assignments"] if st == "expired"]
    assert sorted(lapsed) == sorted((first[who], who) for who in walked_away)
    late = team.annotators[walked_away[0]].post(
        team.api("annotations/"),
        json={"item": first[walked_away[0]], "label": LABELS[0]},
        timeout=TIMEOUT,
    )
    assert late.status_code == 409, late.text


def test_each_variant_runs_on_the_database_it_names(site: Site) -> None:
    """Guard: the `sqlite` variant really is the embedded default, the other PostgreSQL."""
    vendor = site.python(
        "import json\nfrom django.db import connection\nprint(json.dumps(connection.vendor))"
    )
    assert vendor in ("sqlite", "postgresql")
    assert (vendor == "sqlite") == ("DATABASE_URL" not in site.env)
