"""Processes the integration tests run for real: a Celery worker and a web server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """DATABASE_URL of the database pytest-django created, for child processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def unheard_broker_url() -> str:
    """A Redis broker database no test worker listens on (emptied), else the broker as is.

    For sites whose tests are about hand-outs, not the worker: a worker another test
    started would otherwise take their import's messages and refresh the open batch
    (locking its untouched items) in the middle of a round of claims.
    """
    url: str = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return url
    import redis

    base, _, db = url.rpartition("/") if url.count("/") > 2 else (url.rstrip("/"), "/", "0")
    unheard = f"{base}/{14 if db == '15' else 15}"  # never the broker's own database
    redis.Redis.from_url(unheard).flushdb()
    return unheard


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=test_database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        WINNOW_DATA_DIR=str(settings.DATA_DIR),
        DJANGO_SETTINGS_MODULE="winnow.settings",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    name: str

    @classmethod
    def start(cls, *, env: dict[str, str] | None = None, tag: str = "") -> Worker:
        """Start on an empty queue: messages earlier tests left behind name rows long gone.

        `env` (say a private broker's) replaces the test database's child environment.
        """
        log = Path(settings.DATA_DIR) / f"worker-{os.getpid()}{tag}.log"
        name = f"test-{os.getpid()}{tag}@{socket.gethostname()}"
        with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "winnow",
                    "worker",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--purge",
                    "-n",
                    name,
                ],
                cwd=ROOT,
                env=env or child_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = cls(process, log, name)
        worker.wait_ready()
        return worker

    def wait_idle(self, timeout: float = 120) -> None:
        """Drop queued messages and wait until the worker runs nothing.

        Called before a transactional test's flush: a task still writing to the tables
        that TRUNCATE is locking one by one deadlocks with it. The solo pool answers
        control messages only between tasks, so no answer means busy.
        """
        from winnow.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            purged = app.control.purge()
            inspect = app.control.inspect(destination=[self.name], timeout=1.0, limit=1)
            replies = [inspect.active(), inspect.reserved()]
            idle = all(r is not None and not any(r.values()) for r in replies)
            if idle and not purged:
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker still busy after {timeout}s:\n{self.output()[-3000:]}")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.output()}")
            if "ready." in self.output():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebServer:
    """gunicorn serving `winnow.wsgi` from the test database with several processes."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @classmethod
    def start(
        cls, *, workers: int = 4, threads: int = 1, env: dict[str, str] | None = None
    ) -> WebServer:
        """Serve the test database, or whatever database and data dir `env` names."""
        port = free_port()
        log = Path(settings.DATA_DIR) / f"web-{port}.log"
        with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "winnow.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(workers),
                    "--threads",
                    str(threads),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env or child_env(DEBUG="true"),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = cls(process, f"http://127.0.0.1:{port}", log)
        server.wait_ready()
        return server

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        port = int(self.url.rsplit(":", 1)[1])
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text(errors="replace"))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("web server did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
