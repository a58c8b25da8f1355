"""Services a fault test may break: a private Redis and a private PostgreSQL cluster.

The machine's own PostgreSQL and Redis are shared, so a test that restarts one starts
its own on a free port and points the processes it runs (gunicorn, a worker) at it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import free_port

REQUIRE_SERVICES = os.environ.get("WINNOW_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip without the binary; under CI a missing one fails the run."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass
class PrivateRedis:
    """`redis-server` on a free port, no persistence: a restart comes back empty."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, port: int | None = None) -> PrivateRedis:
        if shutil.which("redis-server") is None:
            skip_or_fail("redis-server is not installed")
        redis = cls(port or free_port())
        redis.up()
        return redis

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def up(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def down(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.down()
        self.up()


def _as_postgres() -> dict[str, object]:
    """initdb and postgres refuse root: run them as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid}


@dataclass
class PrivatePostgres:
    """A throwaway cluster (`initdb`, `pg_ctl`) in a temp dir on a free port, trust auth."""

    bin: Path
    data: Path
    port: int

    @classmethod
    def start(cls) -> PrivatePostgres:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            skip_or_fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        root = Path(tempfile.mkdtemp(prefix="winnow-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster = cls(Path(found[-1]).parent, root / "data", free_port())
        cluster._run("initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-N")
        cluster.up()
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
            **_as_postgres(),  # type: ignore[arg-type]
        )

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def up(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data.parent / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def down(self) -> None:
        """Fast shutdown: open transactions are rolled back, connections cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def createdb(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.data.parent, ignore_errors=True)


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no shutdown handler runs, as when the machine loses the process."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
