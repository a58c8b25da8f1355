"""A worker's large arrays reuse memory it has freed (`winnow.allocator`): a rescore
allocates and frees arrays of several megabytes per chunk, and fresh pages from the
kernel for each of them cost page faults every time."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
from django.conf import settings

from tests.support.services import ROOT

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

# A chunk's arrays, allocated, filled and freed again and again; prints the page faults
# of the last rounds.
ROUNDS = """
import resource, numpy as np
def chunk():
    for size in (36_000_000, 6_400_000, 7_200_000):
        a = np.empty(size // 8)
        a[:] = 1.0
        del a
for _ in range(3):
    chunk()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    chunk()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(setup: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", setup + ROUNDS], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


@glibc
def test_freed_arrays_are_reused_without_page_faults() -> None:
    kept = _faults("from winnow.allocator import malloc_keep\nassert malloc_keep(64, 256)\n")
    fresh = _faults("")
    assert fresh > 0  # every round's 36 MB came from the kernel again
    assert kept * 10 <= fresh, (kept, fresh)


def test_zero_leaves_the_allocator_alone() -> None:
    from winnow.allocator import malloc_keep

    assert malloc_keep(0, 0) is False


def test_a_worker_sets_its_allocator_at_start(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from winnow import allocator
    from winnow.celery import _keep_freed_memory

    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(allocator, "malloc_keep", lambda m, t: asked.append((m, t)) or True)
    monkeypatch.setattr(settings, "WINNOW_WORKER_MMAP_MB", 32)
    _keep_freed_memory(sender=None)
    assert asked == [(32, settings.WINNOW_WORKER_TRIM_MB)]
