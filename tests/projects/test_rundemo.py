"""`manage.py rundemo` stopped with SIGTERM (a service manager, `kill`) leaves no worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import ROOT, free_port
from tests.support.waiting import wait_for


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left


@pytest.fixture
def rundemo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, list[int]]]:
    """rundemo on the embedded default (SQLite, filesystem broker) in a data dir of its own."""
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc to find the worker process")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER")
    }
    env.update(WINNOW_DATA_DIR=str(tmp_path), DEBUG="true", PYTHONPATH=str(ROOT))
    log = tmp_path / "rundemo.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", "--addrport", f"127.0.0.1:{free_port()}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    workers: list[int] = []  # the test notes them: once orphaned they are no child of ours
    try:
        yield process, log, workers
    finally:
        if process.poll() is None:
            process.kill()
        for pid in workers + children(process.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_rundemo_and_its_worker(
    rundemo: tuple[subprocess.Popen[bytes], Path, list[int]],
) -> None:
    process, log, workers = rundemo
    wait_for(lambda: "ready." in log.read_text(errors="replace"), timeout=50, what="the worker")
    workers += [pid for pid in children(process.pid) if "celery" in _cmdline(pid)]
    assert workers, f"no worker child: {log.read_text(errors='replace')[-2000:]}"

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)  # raises if rundemo does not exit
    survivors = [pid for pid in workers if alive(pid)]
    assert not survivors, f"worker left behind: {survivors}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
