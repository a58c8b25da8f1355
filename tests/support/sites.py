"""A running Winnow that tests use from outside: gunicorn on a database, set up with manage.py.

The same black-box scenario runs on PostgreSQL (pytest's test database) and on the
embedded default (a SQLite file and a filesystem broker in a data directory of its
own, as a fresh install has them). So a `Site` is driven only through HTTP and
`manage.py` subprocesses, never through this process's ORM connection, which may
point at another database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.services import ROOT, WebServer, child_env

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


@dataclass
class Site:
    server: WebServer
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    @classmethod
    def on_test_database(cls, *, workers: int = 4, **extra: str) -> Site:
        """gunicorn on the database pytest-django created (needs `django_db_setup`)."""
        env = child_env(DEBUG="true", **extra)
        return cls(WebServer.start(workers=workers, env=env), env)

    @classmethod
    def embedded(cls, data_dir: Path, *, workers: int = 4) -> Site:
        """The embedded default: no DATABASE_URL or broker URL, everything under `data_dir`."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER")
        }
        env.update(
            WINNOW_DATA_DIR=str(data_dir),
            DJANGO_SETTINGS_MODULE="winnow.settings",
            PYTHONPATH=str(ROOT),
            DEBUG="true",
        )
        _manage(env, "migrate", "--noinput", "-v", "0")
        return cls(WebServer.start(workers=workers, env=env), env)

    @classmethod
    def migrated(cls, env: dict[str, str], *, workers: int = 4) -> Site:
        """gunicorn on whatever database `env` names, migrated first (a private server)."""
        _manage(env, "migrate", "--noinput", "-v", "0")
        return cls(WebServer.start(workers=workers, env=env), env)

    def manage(self, *args: str) -> str:
        return _manage(self.env, *args)

    def python(self, code: str) -> Any:
        """Run `code` in `manage.py shell` on the site's database; it prints one JSON line."""
        lines = self.manage("shell", "-c", code).strip().splitlines()
        return json.loads(lines[-1])

    def tokens(self, usernames: list[str]) -> dict[str, str]:
        """API tokens of these users, created if need be (no password: token use only)."""
        result: dict[str, str] = self.python(_TOKENS % json.dumps(usernames))
        return result

    def session(self, token: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        return session

    def stop(self) -> None:
        self.server.stop()


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:1])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
