"""A soak under faults (issue 13): annotators label for minutes while the worker is killed
every minute and Redis is restarted twice; then the script checks nothing was lost.

Run ``python benchmarks/soak.py [--minutes 10] [--annotators 16]``. It creates its own
database (``--db-name``, default ``winnow_soak``, on ``--pg``), data directory and Redis
(``redis-server`` on a free port, no persistence, so a restart comes back empty), starts
gunicorn and one Celery worker, and removes all of it at the end.

Faults: the worker gets SIGKILL every minute and is started again at once; Redis is
killed and started empty at about a third and two thirds of the run. The retrain timings
are shortened through the environment (a heartbeat every 2 s, a sweep every 2 s, a
re-send bound of 5 s) so that recovery fits between faults a minute apart.

Checks at the end: every label answered 201 is in the export; no annotator labelled an
item twice; and the model catches up: once the load stops, a model version that started
after the last fault includes every label of every closed batch (labels of a batch
still open are owed no retrain yet, by design). Prints the figures and exits 1 if a
check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["pets", "finance", "sport", "music"]
WORDS = {
    "pets": "cat dog puppy kitten leash vet fur paw",
    "finance": "bank loan stock bond rate market fund tax",
    "sport": "goal match team score league coach pitch race",
    "music": "song band guitar drum concert album chord tune",
}
FAST = {
    "WINNOW_RETRAIN_HEARTBEAT_SECONDS": "2",
    "WINNOW_OWED_SWEEP_SECONDS": "2",
    "WINNOW_RETRAIN_RESEND_SECONDS": "5",
}
CATCH_UP_SECONDS = 300

_TOKENS = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
tokens = {}
for name in json.loads(%r):
    user, _ = get_user_model().objects.get_or_create(username=name)
    tokens[name] = Token.objects.get_or_create(user=user)[0].key
print(json.dumps(tokens))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass
class Stack:
    """The database, data dir, Redis, gunicorn and worker of one soak."""

    pg: str
    db_name: str
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="winnow-soak-")))
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    redis: subprocess.Popen[bytes] | None = None
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "CELERY_TASK_ALWAYS_EAGER"}
        env.update(
            DATABASE_URL=f"{self.pg}/{self.db_name}",
            CELERY_BROKER_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            WINNOW_DATA_DIR=str(self.data_dir),
            DJANGO_SETTINGS_MODULE="winnow.settings",
            DEBUG="false",
            SECRET_KEY="soak-" + "x" * 50,
            ALLOWED_HOSTS="127.0.0.1",
            LOG_LEVEL="WARNING",
            **FAST,
        )
        return env

    def _log(self, name: str) -> IO[bytes]:
        out = (self.data_dir / name).open("ab")
        self.logs.append(out)
        return out

    def start(self) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        self._admin(f"CREATE DATABASE {self.db_name}")
        self.redis_up()
        self.manage("migrate", "-v", "0")
        self.web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "winnow.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
            ]
            + ["--workers", "4", "--log-level", "warning", "--timeout", "120"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log("web.log"),
            stderr=subprocess.STDOUT,
        )
        wait_port(self.web_port)
        self.worker_up()

    def redis_up(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_port(self.redis_port)

    def redis_restart(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        self.redis.wait()
        self.redis_up()

    def worker_up(self) -> None:
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "winnow", "worker", "--pool", "solo"]
            + ["--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log("worker.log"),
            stderr=subprocess.STDOUT,
        )

    def worker_kill(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(f"{self.pg}/{self.db_name}")
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def _admin(self, sql: str) -> None:
        conn = psycopg2.connect(f"{self.pg}/postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql)
        conn.close()

    def stop(self) -> None:
        for process in (self.web, self.worker, self.redis):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        for out in self.logs:
            out.close()
        self._admin(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class Load:
    """What the annotators saw: each 201 (item, annotator), and every other answer."""

    url: str
    pid: int
    stop: threading.Event = field(default_factory=threading.Event)
    created: list[tuple[int, str]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: str) -> None:
        with self.lock:
            self.statuses[status] += 1

    def annotate(self, who: str, token: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        api = f"{self.url}/api/projects/{self.pid}"
        while not self.stop.is_set():
            try:
                handed = session.get(f"{api}/next/", timeout=60)
                self.note(f"next {handed.status_code}")
                if handed.status_code != 200:
                    time.sleep(0.5)
                    continue
                item = handed.json()["item"]
                label = next(k for k in LABELS if WORDS[k].split()[0] in item["text"])
                body = {"item": item["id"], "label": label, "confidence": 4}
                answer = session.post(f"{api}/annotations/", json=body, timeout=60)
            except requests.RequestException as exc:
                self.note(f"connection {type(exc).__name__}")
                time.sleep(0.5)
                continue
            self.note(f"annotations {answer.status_code}")
            if answer.status_code == 201:
                with self.lock:
                    self.created.append((item["id"], who))


def pool_csv(n: int) -> bytes:
    lines = ["text"]
    for i in range(n):
        topic = LABELS[i % len(LABELS)]
        words = WORDS[topic].split()
        lines.append(f"{words[0]} {words[(i * 7) % len(words)]} {words[(i * 3) % len(words)]} {i}")
    return ("\n".join(lines) + "\n").encode()


def project_setup(stack: Stack, annotators: list[str], pool: int, batch: int) -> tuple[int, str]:
    out = stack.manage("shell", "-c", _TOKENS % json.dumps(["lead", *annotators]))
    tokens = json.loads(out.strip().splitlines()[-1])
    lead = requests.Session()
    lead.headers["Authorization"] = f"Token {tokens['lead']}"
    created = lead.post(
        f"{stack.url}/api/projects/",
        json={"name": "soak", "kind": "text", "labels": LABELS, "batch_size": batch},
        timeout=60,
    )
    created.raise_for_status()
    pid = created.json()["id"]
    for name in annotators:
        added = lead.post(
            f"{stack.url}/api/projects/{pid}/members/",
            json={"username": name, "role": "annotator"},
            timeout=60,
        )
        added.raise_for_status()
    files = {"file": ("pool.csv", pool_csv(pool))}
    lead.post(
        f"{stack.url}/api/projects/{pid}/import/", files=files, timeout=600
    ).raise_for_status()
    return pid, json.dumps(tokens)


def fault_schedule(minutes: float) -> list[tuple[float, str]]:
    """(seconds from the start, fault): the worker killed each minute, Redis twice."""
    seconds = minutes * 60
    kills = [
        (60.0 * m, "worker SIGKILL") for m in range(1, int(seconds // 60) + 1) if 60 * m < seconds
    ]
    restarts = [(seconds / 3 + 25, "redis restart"), (2 * seconds / 3 + 25, "redis restart")]
    return sorted(kills + restarts)


def run_faults(stack: Stack, minutes: float, stop: threading.Event) -> list[tuple[datetime, str]]:
    started = time.monotonic()
    done: list[tuple[datetime, str]] = []
    for offset, fault in fault_schedule(minutes):
        if stop.wait(max(0.0, started + offset - time.monotonic())):
            break
        if fault == "worker SIGKILL":
            stack.worker_kill()
            stack.worker_up()
        else:
            stack.redis_restart()
        done.append((datetime.now(UTC), fault))
        print(f"  {time.monotonic() - started:6.1f}s  {fault}", flush=True)
    return done


_VERSIONS = """
SELECT version, status, attempts, started_at, finished_at, labels_total
FROM projects_modelversion WHERE project_id = %s ORDER BY version
"""
_LABELLED_CLOSED = """
SELECT count(*) FROM projects_item i JOIN projects_batch b ON b.id = i.batch_id
WHERE i.project_id = %s AND b.state = 'closed' AND i.label IS NOT NULL
"""


def catch_up(
    stack: Stack, pid: int, last_fault: datetime, load_end: datetime
) -> tuple[float | None, int, int]:
    """Once the load stops: (seconds until a version started after the last fault includes
    every label of every closed batch, how many retrains started after the load stopped
    until then (0: the one running then did), those labels)."""
    started = time.monotonic()
    while time.monotonic() - started < CATCH_UP_SECONDS:
        needed = stack.query(_LABELLED_CLOSED, (pid,))[0][0]
        after = [v for v in stack.query(_VERSIONS, (pid,)) if v[1] == "done" and v[3] > last_fault]
        for version in after:
            if version[5] >= needed:
                later = sum(1 for v in after if load_end <= v[3] <= version[3])
                return time.monotonic() - started, later, needed
        time.sleep(1)
    return None, 0, stack.query(_LABELLED_CLOSED, (pid,))[0][0]


def recovery_seconds(versions: list[tuple[Any, ...]], faults: list[tuple[datetime, str]]) -> float:
    """Per fault, until a retrain started after it finished; the longest."""
    worst = 0.0
    for at, _ in faults:
        later = [v[4] for v in versions if v[1] == "done" and v[3] >= at and v[4] is not None]
        if later:
            worst = max(worst, (min(later) - at).total_seconds())
    return worst


def export_pairs(stack: Stack, pid: int, token: str) -> list[tuple[int, str]]:
    answer = requests.get(
        f"{stack.url}/api/projects/{pid}/export/?format=jsonl",
        headers={"Authorization": f"Token {token}"},
        timeout=600,
    )
    answer.raise_for_status()
    pairs = []
    for line in answer.text.splitlines():
        record = json.loads(line)
        pairs += [(record["id"], a["annotator"]) for a in record["annotations"]]
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--annotators", type=int, default=16)
    parser.add_argument("--pool", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="winnow_soak")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

    stack = Stack(args.pg, args.db_name)
    try:
        stack.start()
        names = [f"soak-ann{i:02d}" for i in range(args.annotators)]
        pid, tokens_json = project_setup(stack, names, args.pool, args.batch_size)
        tokens = json.loads(tokens_json)
        load = Load(stack.url, pid)
        threads = [threading.Thread(target=load.annotate, args=(n, tokens[n])) for n in names]
        print(f"soak: {args.annotators} annotators, {args.minutes} min, pool {args.pool}")
        began = time.monotonic()
        for thread in threads:
            thread.start()
        faults = run_faults(stack, args.minutes, threading.Event())
        time.sleep(max(0.0, began + args.minutes * 60 - time.monotonic()))
        load.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.monotonic() - began
        load_end = datetime.now(UTC)
        last_fault = faults[-1][0] if faults else load_end
        caught, retrains_after, needed = catch_up(stack, pid, last_fault, load_end)
        report(stack, pid, tokens["lead"], load, faults, elapsed, (caught, retrains_after, needed))
    finally:
        stack.stop()


def report(
    stack: Stack,
    pid: int,
    lead: str,
    load: Load,
    faults: list[tuple[datetime, str]],
    elapsed: float,
    caught_up: tuple[float | None, int, int],
) -> None:
    caught, retrains_after, needed = caught_up
    versions = stack.query(_VERSIONS, (pid,))
    exported = export_pairs(stack, pid, lead)
    missing = set(load.created) - set(exported)
    twice = len(exported) - len(set(exported))
    errors = {
        k: v for k, v in sorted(load.statuses.items()) if not k.endswith(("200", "201", "204"))
    }
    statuses = Counter(v[1] for v in versions)
    print(f"labels submitted (201)         {len(load.created)}")
    print(f"annotations/s                  {len(load.created) / elapsed:.1f}")
    print(f"answers                        {dict(sorted(load.statuses.items()))}")
    print(f"errors by status               {errors or 'none'}")
    print(f"faults                         {Counter(f for _, f in faults)}")
    print(
        f"retrains                       {dict(statuses)}; re-run after a kill: "
        f"{sum(1 for v in versions if v[2] > 1)}"
    )
    print(
        f"max time to recover            {recovery_seconds(versions, faults):.1f}s "
        "(a fault to the end of a retrain started after it)"
    )
    checks = {
        "every 201 in the export": not missing,
        "no item labelled twice by one annotator": twice == 0,
        "model caught up within one retrain": caught is not None and retrains_after <= 1,
    }
    print(
        "catch-up                       "
        + (
            f"{caught:.1f}s after the load, by a retrain started after the last fault; "
            f"retrains started after the load stopped until then: {retrains_after}; "
            f"{needed} labels of closed batches"
            if caught is not None
            else f"NOT within {CATCH_UP_SECONDS}s ({needed} labels of closed batches)"
        )
    )
    for name, ok in checks.items():
        print(f"check: {name:<40} {'ok' if ok else 'FAILED'}")
    if missing:
        print(f"  missing from the export: {sorted(missing)[:20]}")
    if not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
