#!/usr/bin/env python3
"""Screenshots of every page a lead, an annotator and a reviewer use, for docs/screenshots/.

Runs the embedded default (`manage.py rundemo`: SQLite, the filesystem broker, a worker) in a
throw-away data directory, labels part of the demo project through the public API with the
demo file's true labels (so the model trains and the charts have points), then drives Debian's
Chromium with Playwright. Usage: `.venv/bin/python scripts/screenshots.py [--out DIR]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO_CSV = ROOT / "strategies" / "data" / "demo_text.csv"
PASSWORD = "winnow-demo"
CHROMIUM = os.environ.get("WINNOW_CHROMIUM", "/usr/bin/chromium")


class Api:
    """Just enough of the public HTTP API (§10) to label the demo as its annotators would."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.token = self.call(
            "POST", "/api/auth/token/", {"username": username, "password": PASSWORD}
        )[1]["token"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Token {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, None


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def label_some(base: str, project: int, annotator: str, count: int, truth: dict[str, str]) -> int:
    """Label up to `count` items with their true labels; returns how many were labelled."""
    api = Api(base, annotator)
    done = 0
    idle_since = time.monotonic()
    while done < count and time.monotonic() - idle_since < 60:
        status, body = api.call("GET", f"/api/projects/{project}/next/")
        if status != 200:
            time.sleep(1)  # the worker is training or selecting the next batch
            continue
        idle_since = time.monotonic()
        item = body["item"]
        label = truth.get(item.get("text", ""), next(iter(sorted(set(truth.values())))))
        api.call(
            "POST",
            f"/api/projects/{project}/annotations/",
            {"item": item["id"], "label": label, "confidence": 4},
        )
        done += 1
    return done


def model_version(api: Api, project: int) -> int:
    status = api.call("GET", f"/api/projects/{project}/status/")[1] or {}
    return int((status.get("model") or {}).get("version") or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--labels", type=int, default=60)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{args.port}"
    with open(DEMO_CSV, newline="", encoding="utf-8") as fh:
        truth = {row["text"]: row["label"] for row in csv.DictReader(fh)}

    data_dir = tempfile.mkdtemp(prefix="winnow-screens-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    # The replay's cheaper grid: the screenshot needs its table, not every pair.
    env.update(DEBUG="true", WINNOW_DATA_DIR=data_dir, WINNOW_REPLAY_GRID="axes")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--addrport", f"127.0.0.1:{args.port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: urllib.request.urlopen(f"{base}/login/", timeout=5).status == 200,
            timeout=180,
            what="the demo server",
        )
        lead = Api(base, "demo")
        projects = lead.call("GET", "/api/projects/")[1]
        rows = projects["results"] if isinstance(projects, dict) else projects
        text_project = next(p["id"] for p in rows if p["kind"] == "text")
        image_project = next(p["id"] for p in rows if p["kind"] == "image")
        # Label in rounds until the model has been retrained twice: a batch's labels become
        # a model version only once the worker has trained on them.
        labelled = 0
        # Four evaluated versions give the forecast its curve; the replay needs a model.
        for _ in range(10):
            labelled += label_some(base, text_project, "alice", args.labels // 2, truth)
            labelled += label_some(base, text_project, "bob", args.labels // 6, truth)
            if model_version(lead, text_project) >= 5:
                break
        wait_for(
            lambda: model_version(lead, text_project) >= 2, timeout=300, what="a retrained model"
        )
        lead.call("POST", f"/api/projects/{text_project}/replay/")
        wait_for(
            lambda: (
                lead.call("GET", f"/api/projects/{text_project}/replay/")[1]["state"]
                in ("done", "failed")
            ),
            timeout=900,
            what="the replay job",
        )
        shoot(base, args.out, text_project, image_project, a_labelled_item(lead, text_project))
        print(f"labelled {labelled} items; screenshots in {args.out}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def a_labelled_item(api: Api, project: int) -> int:
    """An item with annotations, for the item page."""
    page = api.call("GET", f"/api/projects/{project}/items/?state=labeled&page_size=1")[1]
    return int(page["results"][0]["id"])


# (user, file name, path, colour scheme, keys pressed before the picture); {p} is the text
# demo, {i} the image demo, {t} a labelled item of the text demo.
PAGES = [
    ("demo", "projects", "/", "light", ""),
    ("demo", "dashboard", "/projects/{p}/", "light", ""),
    ("demo", "dashboard-images", "/projects/{i}/", "light", ""),
    ("demo", "settings", "/projects/{p}/settings/", "light", ""),
    ("demo", "guidelines", "/projects/{p}/guidelines/", "light", ""),
    ("demo", "members", "/projects/{p}/members/", "light", ""),
    ("demo", "import", "/projects/{p}/import/", "light", ""),
    ("demo", "export", "/projects/{p}/export/", "light", ""),
    ("demo", "create", "/projects/new/", "light", ""),
    ("demo", "items", "/projects/{p}/items/?ordering=-score", "light", ""),
    ("demo", "items-images", "/projects/{i}/items/", "light", ""),
    ("demo", "item", "/projects/{p}/items/{t}/", "light", ""),
    ("demo", "delete", "/projects/{p}/delete/", "light", ""),
    ("alice", "annotate", "/projects/{p}/annotate/", "light", ""),
    ("alice", "annotate-dark", "/projects/{p}/annotate/", "dark", ""),
    ("alice", "annotate-images", "/projects/{i}/annotate/", "light", ""),
    ("alice", "history", "/projects/{p}/annotate/history/", "light", ""),
    ("rita", "review", "/projects/{p}/review/", "light", ""),
    ("alice", "annotate-keys", "/projects/{p}/annotate/", "light", "?"),
]


def shoot(base: str, out: Path, text_project: int, image_project: int, item: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
        )
        for user, name, path, scheme, keys in PAGES:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, color_scheme=scheme
            )
            page = context.new_page()
            page.goto(f"{base}/login/")
            page.fill("#id_username", user)
            page.fill("#id_password", PASSWORD)
            page.press("#id_password", "Enter")
            page.wait_for_url(f"{base}/")
            response = page.goto(base + path.format(p=text_project, i=image_project, t=item))
            if response is None or response.status >= 400:
                raise SystemExit(
                    f"{path} answered {response.status if response else 'nothing'} for {user}"
                )
            page.wait_for_load_state("networkidle")
            for key in keys:
                page.keyboard.press(key)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
