"""Settings read from the environment: production unless told otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "a-test-only-secret-key-that-is-long-and-random-enough-0123456789"
READ = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    "'debug': s.DEBUG, 'redirect': getattr(s, 'SECURE_SSL_REDIRECT', False),"
    "'secure_cookies': s.SESSION_COOKIE_SECURE and s.CSRF_COOKIE_SECURE,"
    "'proxy_header': s.SECURE_PROXY_SSL_HEADER, 'hsts': s.SECURE_HSTS_SECONDS}))"
)


def _environment() -> dict[str, str]:
    """This process's environment less the settings under test.

    Less DJANGO_ALLOW_ASYNC_UNSAFE too: the browser tests' conftest sets it in this
    process for Playwright once collected, and `check --deploy` rightly refuses it.
    """
    ours = ("DEBUG", "SECRET_KEY", "WINNOW_", "SECURE_", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC")
    return {k: v for k, v in os.environ.items() if not k.startswith(ours)}


def _settings(tmp_path: Path, read: str = READ, **env: str) -> subprocess.CompletedProcess[str]:
    clean = _environment()
    clean.update(DJANGO_SETTINGS_MODULE="winnow.settings", WINNOW_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", read], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_debug_is_off_unless_set_and_the_development_key_is_refused(tmp_path: Path) -> None:
    refused = _settings(tmp_path)
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    values = json.loads(_settings(tmp_path, SECRET_KEY=KEY).stdout)
    assert values["debug"] is False


def test_plain_http_by_default_with_no_redirect_secure_cookies_or_forwarded_proto(
    tmp_path: Path,
) -> None:
    values = json.loads(_settings(tmp_path, SECRET_KEY=KEY).stdout)
    assert values == {
        "debug": False,
        "redirect": False,
        "secure_cookies": False,
        "proxy_header": None,
        "hsts": 0,
    }


def test_https_and_forwarded_proto_only_when_configured(tmp_path: Path) -> None:
    values = json.loads(
        _settings(
            tmp_path, SECRET_KEY=KEY, WINNOW_HTTPS="true", WINNOW_TRUST_FORWARDED_PROTO="true"
        ).stdout
    )
    assert values["redirect"] is True and values["secure_cookies"] is True
    assert values["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["hsts"] > 0


@pytest.mark.parametrize("https", ["true", "false"])
def test_check_deploy_is_clean_with_https_and_names_what_plain_http_lacks(
    tmp_path: Path, https: str
) -> None:
    env = _environment()
    env.update(
        DJANGO_SETTINGS_MODULE="winnow.settings",
        WINNOW_DATA_DIR=str(tmp_path),
        SECRET_KEY=KEY,
        ALLOWED_HOSTS="winnow.example.org",
        WINNOW_HTTPS=https,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if https == "true":
        assert result.returncode == 0, result.stderr
    else:
        assert "security.W008" in result.stderr  # SECURE_SSL_REDIRECT is off, as meant


def test_a_shared_cache_is_redis_with_timeouts_else_each_process_s_memory(
    tmp_path: Path,
) -> None:
    """WINNOW_CACHE_URL: every web process's one cache; a Redis host that is down must
    not hold a request for the system's connect timeout (minutes)."""
    read = "import json; from django.conf import settings as s; print(json.dumps(s.CACHES))"
    own = _settings(tmp_path, read, SECRET_KEY=KEY)
    assert json.loads(own.stdout)["default"]["BACKEND"].endswith("LocMemCache"), own.stderr
    url = "redis://cache.example:6379/1"
    shared = _settings(tmp_path, read, SECRET_KEY=KEY, WINNOW_CACHE_URL=url)
    cache = json.loads(shared.stdout)["default"]
    assert cache["BACKEND"].endswith("RedisCache") and cache["LOCATION"] == url
    assert cache["OPTIONS"] == {"socket_connect_timeout": 1, "socket_timeout": 1}
