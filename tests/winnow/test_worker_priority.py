"""Workers yield the CPU to web requests: each raises its own niceness at start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.support.services import ROOT


def test_niceness_is_raised_to_the_target_and_never_lowered() -> None:
    """In a child: niceness cannot be lowered again without privilege."""
    code = (
        "import os; from winnow.celery import niceness_at_least as at_least\n"
        "start = os.nice(0)\n"
        "print(start, at_least(start + 3), at_least(start + 1), at_least(start), os.nice(0))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    start, raised, lower, same, final = map(int, out)
    assert (raised, lower, same, final) == (start + 3,) * 4


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_started_worker_runs_at_the_configured_niceness(celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    """However the worker was launched (here a plain `celery -A winnow worker` at the test
    runner's priority), it runs at WINNOW_WORKER_NICE: retrains come after requests."""
    assert settings.WINNOW_WORKER_NICE == 10  # the shipped default
    niceness = os.getpriority(os.PRIO_PROCESS, celery_worker_process.process.pid)
    assert niceness == max(settings.WINNOW_WORKER_NICE, os.nice(0))
