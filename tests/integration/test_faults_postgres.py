"""PostgreSQL restarted under load (issue 13): 503 with Retry-After, never a traceback,
and nothing half-written afterwards.

The restart is of a private cluster (initdb/pg_ctl on a free port), never the shared one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from tests.support.faults import PrivatePostgres, PrivateRedis
from tests.support.services import child_env
from tests.support.sites import Site
from tests.support.team import LABELS, Team, make_team
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ANNOTATORS = 8

_ROWS = """
import json
from annotator.models import Assignment
from projects.models import Annotation, Item
pid = %d
print(json.dumps({
    "annotations": list(Annotation.objects.filter(project_id=pid).values_list(
        "item_id", "annotator__username")),
    "done": list(Assignment.objects.filter(project_id=pid, state="done").values_list(
        "item_id", "annotator__username")),
    "counts": list(Item.objects.filter(project_id=pid).values_list("id", "annotation_count")),
}))
"""


@dataclass
class Load:
    """Annotators labelling in threads until told to stop; every answer is kept."""

    team: Team
    stop: threading.Event = field(default_factory=threading.Event)
    statuses: Counter[int] = field(default_factory=Counter)
    created: list[tuple[str, int]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, response: requests.Response) -> bool:
        """Record it; True if the request went through."""
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503 and response.headers.get("Retry-After"):
                return False
            if response.status_code >= 500 or "Traceback" in response.text:
                self.bad.append(f"{response.status_code} {response.text[:300]}")
        return response.status_code < 300

    def work(self, who: str) -> None:
        session = self.team.annotators[who]
        while not self.stop.is_set():
            handed = session.get(self.team.api("next/"), timeout=30)
            if not self.answer(handed) or handed.status_code == 204:
                time.sleep(0.1)
                continue
            item = handed.json()["item"]["id"]
            body = {"item": item, "label": LABELS[item % 3], "confidence": 3}
            answer = session.post(self.team.api("annotations/"), json=body, timeout=30)
            if self.answer(answer) and answer.status_code == 201:
                with self.lock:
                    self.created.append((who, item))


@pytest.fixture
def site_on_private_postgres() -> Iterator[tuple[Site, PrivatePostgres]]:
    cluster = PrivatePostgres.start()
    broker = PrivateRedis.start()  # retrains owed meanwhile queue here, no worker needed
    site = None
    data_dir = tempfile.mkdtemp(prefix="winnow-pg-data-")
    try:
        cluster.createdb("winnow")
        env = child_env(
            DEBUG="true",  # a traceback page would show if a database error escaped
            DATABASE_URL=cluster.url("winnow"),
            CELERY_BROKER_URL=broker.url(),
            WINNOW_DATA_DIR=data_dir,
        )
        site = Site.migrated(env, workers=4)
        yield site, cluster
    finally:
        if site is not None:
            site.stop()
        broker.down()
        cluster.destroy()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_postgres_restart_under_load_answers_503_and_leaves_nothing_half_written(
    site_on_private_postgres: tuple[Site, PrivatePostgres],
) -> None:
    site, cluster = site_on_private_postgres
    team = make_team(site, "pgrestart", pool=2000, batch_size=20, annotators=ANNOTATORS)
    load = Load(team)
    threads = [threading.Thread(target=load.work, args=(who,)) for who in team.annotators]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(load.created) >= 40, timeout=20, what="labelling under way")
    before = len(load.created)
    cluster.down()  # fast shutdown: open transactions roll back, connections are cut
    time.sleep(2)
    cluster.up()
    restarted = len(load.created)
    wait_for(lambda: len(load.created) >= restarted + 40, timeout=20, what="labelling again")
    load.stop.set()
    for thread in threads:
        thread.join(timeout=40)

    assert not load.bad, load.bad[:5]
    assert load.statuses[503] > 0, f"the outage was never seen: {load.statuses}"
    assert before > 0 and len(load.created) > restarted, f"labelling resumed: {load.statuses}"
    rows = site.python(_ROWS % team.project_id)
    annotations = [tuple(pair) for pair in rows["annotations"]]
    assert len(set(annotations)) == len(annotations), "an annotator labelled an item twice"
    assert {(item, who) for who, item in load.created} <= set(annotations), "a 201 not kept"
    assert sorted(map(tuple, rows["done"])) == sorted(annotations), "half-written submits"
    per_item = Counter(item for item, _ in annotations)
    assert {i: n for i, n in rows["counts"] if n} == dict(per_item)
    print(json.dumps({"statuses": load.statuses, "labels": len(load.created)}))
