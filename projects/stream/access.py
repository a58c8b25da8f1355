"""Who is posting to a stream and which model answers, remembered per process.

Without this a stream post spends most of its time on lookups that almost never
change between posts: the token, the project with the caller's role
(``project_for_member``) and the latest model version. They are remembered per
process with no expiry; instead the decision's own write statement
(``projects.stream.services``, Postgres) re-checks all of them in the same round trip,
and a post that finds any changed forgets the entry and is redone from fresh
lookups. So a revoked token, a removed member or a new model version takes
effect at the very next post, in every process. On other databases nothing is
remembered (the write there cannot re-check it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authtoken.models import Token

from projects.access import AnyUser, project_for_member
from projects.models import ModelVersion, Project
from winnow.auth import TokenAuthentication

MAX_ENTRIES = 10_000  # a bound, not an expiry: the table is cleared when it is reached


@dataclass(frozen=True)
class StreamCaller:
    """A member's access to a project as last checked, and the model then current."""

    user_id: int
    role: str
    project: Project  # a snapshot; never saved, never mutated
    version: int | None


class _Remembered:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        return self.entries.get(key) if _rechecked() else None

    def put(self, key: Any, value: Any) -> None:
        if not _rechecked():
            return
        with self.lock:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
            self.entries[key] = value

    def forget(self, key: Any) -> None:
        self.entries.pop(key, None)


_callers = _Remembered()
_tokens = _Remembered()


def _rechecked() -> bool:
    """Only where the stream's write statement re-checks what is remembered."""
    return connection.vendor == "postgresql"


def stream_caller(user: AnyUser, project_id: int | str, roles: tuple[str, ...]) -> StreamCaller:
    """The remembered access of ``user`` to the project, or fresh lookups (404/403 as usual)."""
    key = (user.pk, str(project_id), roles)
    caller = _callers.get(key)
    if caller is None:
        project, role = project_for_member(user, project_id, roles)
        assert user.pk is not None  # project_for_member turned anonymous callers away
        caller = StreamCaller(user.pk, role, project, latest_version(project.pk))
        _callers.put(key, caller)
    return caller


def stream_caller_forget(user: AnyUser, project_id: int | str, roles: tuple[str, ...]) -> None:
    _callers.forget((user.pk, str(project_id), roles))


def stream_token_forget(key: str | None) -> None:
    if key is not None:
        _tokens.forget(key)


def latest_version(project_id: int) -> int | None:
    return (
        ModelVersion.objects.filter(project_id=project_id, status=ModelVersion.Status.DONE)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )


class StreamTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for the stream's token authentication: the same header and tokens
    as `tokenAuth`, but a class of its own, which drf-spectacular must not name alike."""

    target_class = "projects.stream.access.StreamTokenAuthentication"
    name = "streamTokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'The API token with the prefix "Token" (the same as tokenAuth).',
        }


class StreamTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, remembering key -> user (re-checked by the stream write)."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        known = _tokens.get(key)
        if known is None:
            known = super().authenticate_credentials(key)
            _tokens.put(key, known)
        return known
