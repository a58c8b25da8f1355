"""Workers yield the CPU to web requests, but not while they hold locks requests wait on:
each task thread raises its own niceness, and lock holders run on a thread kept at the
worker's starting priority (`winnow.priority`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.services import ROOT


def _in_a_child(code: str) -> str:
    """What `code` prints, run in a fresh Django process: niceness cannot be lowered
    again without privilege, so none of it is tried in the test runner itself."""
    setup = (
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'winnow.settings')\n"
        "django.setup()\n"
        "from winnow import priority as p\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", setup + code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_thread_is_niced_while_its_urgent_work_runs_at_the_starting_priority() -> None:
    out = _in_a_child(
        "start = p.thread_niceness()\n"
        "before = p.urgently(p.thread_niceness)\n"  # nothing niced yet: runs right here
        "raised = p.background(start + 3)\n"
        "urgent = p.urgently(p.thread_niceness)\n"
        "lower, same = p.background(start + 1), p.background(start + 3)\n"
        "print(start, before, raised, urgent, lower, same, p.thread_niceness())\n"
    )
    start, before, raised, urgent, lower, same, final = map(int, out.split())
    assert before == start
    assert (raised, lower, same, final) == (start + 3,) * 4  # raised, never lowered
    assert urgent == start  # the urgent thread kept the priority the process started with


def test_urgent_work_raises_its_errors_in_the_caller() -> None:
    out = _in_a_child(
        "p.background(p.thread_niceness() + 1)\n"
        "def fail(): raise LookupError('from the urgent thread')\n"
        "try:\n"
        "    p.urgently(fail)\n"
        "except LookupError as exc:\n"
        "    print(exc)\n"
    )
    assert out.strip() == "from the urgent thread"


def _thread_niceness(pid: int) -> dict[int, int]:
    """Every thread of a process and its niceness (field 19 of /proc/.../stat)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        found[int(task.name)] = int(stat.rsplit(")", 1)[1].split()[16])
    return found


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_started_worker_runs_its_tasks_niced_and_keeps_an_urgent_thread(  # type: ignore[no-untyped-def]
    celery_worker_process,
) -> None:
    """However the worker was launched (here a plain `celery -A winnow worker` at the test
    runner's priority), its tasks run at WINNOW_WORKER_NICE, and one thread stays at the
    priority it started with, for the work that holds locks requests wait on."""
    from projects import tasks

    assert settings.WINNOW_WORKER_NICE == 10  # the shipped default
    start = os.nice(0)
    target = max(settings.WINNOW_WORKER_NICE, start)
    pid = celery_worker_process.process.pid
    tasks.resend_owed_work.delay()  # any task: its thread (the solo pool's main) is niced
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        niceness = _thread_niceness(pid)
        if niceness[pid] == target and start in niceness.values():
            break
        time.sleep(0.1)
    assert niceness[pid] == target, niceness
    if target > start:
        assert start in niceness.values(), niceness  # the urgent thread
