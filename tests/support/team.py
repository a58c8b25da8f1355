"""A project driven over HTTP by a lead and annotators, for tests that run real servers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import requests

from tests.support.sites import Site

LABELS = ["pets", "finance", "sport"]
TIMEOUT = 30.0

_PASSWORD = """
import json
from django.contrib.auth import get_user_model
user = get_user_model().objects.get(username=%r)
user.set_password(%r)
user.save()
print(json.dumps(True))
"""


@dataclass
class Team:
    site: Site
    project_id: int
    lead: requests.Session
    annotators: dict[str, requests.Session]
    lead_name: str
    labelled: list[tuple[str, int]] = field(default_factory=list)

    def api(self, path: str) -> str:
        return f"{self.site.url}/api/projects/{self.project_id}/{path}"

    def label_one(self, who: str) -> int | None:
        """next/ then a label: the item labelled (201), or None when nothing is left."""
        session = self.annotators[who]
        handed = session.get(self.api("next/"), timeout=TIMEOUT)
        if handed.status_code == 204:
            return None
        assert handed.status_code == 200, handed.text
        item = handed.json()["item"]["id"]
        body = {"item": item, "label": LABELS[item % len(LABELS)], "confidence": 4}
        answer = session.post(self.api("annotations/"), json=body, timeout=TIMEOUT)
        assert answer.status_code == 201, answer.text
        self.labelled.append((who, item))
        return int(item)

    def label(self, count: int, who: str | None = None) -> None:
        who = who or next(iter(self.annotators))
        for _ in range(count):
            assert self.label_one(who) is not None, "nothing left to label"

    def status(self) -> dict[str, object]:
        answer = self.lead.get(self.api("status/"), timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        result: dict[str, object] = answer.json()
        return result

    def browser(self, username: str | None = None) -> requests.Session:
        """A member (the lead by default) logged in with a session, as in a browser."""
        username = username or self.lead_name
        self.site.python(_PASSWORD % (username, "pw-faults"))
        browser = requests.Session()
        login = f"{self.site.url}/login/"
        browser.get(login, timeout=TIMEOUT)
        answer = browser.post(
            login,
            data={
                "username": username,
                "password": "pw-faults",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": login},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 200 and "logout" in answer.text.lower(), answer.text[:500]
        return browser


def csrf_of(page: str) -> str:
    """The token htmx sends, from `hx-headers` on <body>."""
    found = re.search(r'"x-csrftoken": "([^"]+)"', page)
    assert found is not None, page[:500]
    return found[1]


def make_team(site: Site, name: str, *, pool: int, batch_size: int, annotators: int = 1) -> Team:
    """Create the project over HTTP, add members and import `pool` texts."""
    names = [f"{name}-ann{i}" for i in range(annotators)]
    tokens = site.tokens([f"{name}-lead", *names])
    lead = site.session(tokens[f"{name}-lead"])
    created = lead.post(
        f"{site.url}/api/projects/",
        json={"name": name, "kind": "text", "labels": LABELS, "batch_size": batch_size},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    for username in names:
        added = lead.post(
            f"{site.url}/api/projects/{pid}/members/",
            json={"username": username, "role": "annotator"},
            timeout=TIMEOUT,
        )
        assert added.status_code == 201, added.text
    topics = {"pets": "cat dog puppy", "finance": "bank loan stock", "sport": "goal match team"}
    rows = "".join(f"item {i} about {topics[LABELS[i % 3]]} number {i}\n" for i in range(pool))
    imported = lead.post(
        f"{site.url}/api/projects/{pid}/import/",
        files={"file": ("pool.csv", f"text\n{rows}".encode())},
        timeout=TIMEOUT,
    )
    assert imported.status_code == 201, imported.text
    sessions = {u: site.session(tokens[u]) for u in names}
    return Team(site, pid, lead, sessions, f"{name}-lead")
