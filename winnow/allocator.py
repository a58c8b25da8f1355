"""A worker's memory allocator: the large arrays of a rescore reuse freed memory.

glibc's malloc gives every allocation above its mmap threshold (dynamic, never above
32 MB) fresh pages from the kernel and returns them when freed, and it returns the free
top of its heap above the trim threshold. A rescore allocates and frees arrays of 5 to
40 MB for every chunk of 100,000 rows (probabilities, scores, their merged columns), so
every chunk faulted those pages in again. On the 2-core virtual machine of
`benchmarks/loop.py` at 1M items that was 300 to 2,600 page faults per chunk, and a
chunk took 66 to 115 ms by what the process had freed before. With both thresholds
raised in each worker, a chunk's arrays come from memory the process already holds (no
faults); the rescore of 1M items on one worker went from 0.81-0.97 s to 0.70-0.75 s.

What it costs: a worker keeps up to WINNOW_WORKER_TRIM_MB of freed memory for its next
use instead of returning it at once. Elsewhere than glibc (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MB = 1024 * 1024


def malloc_keep(mmap_mb: int, trim_mb: int) -> bool:
    """Allocations up to `mmap_mb` come from the heap, which keeps up to `trim_mb` of
    free memory at its top (0: leave that threshold as it is). False where the C library
    has no such settings or refuses the values."""
    if mmap_mb <= 0 and trim_mb <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    kept = True
    # The trim first: setting either fixes both (no dynamic threshold any more).
    if trim_mb > 0:
        kept = bool(mallopt(M_TRIM_THRESHOLD, trim_mb * MB)) and kept
    if mmap_mb > 0:
        kept = bool(mallopt(M_MMAP_THRESHOLD, mmap_mb * MB)) and kept
    return kept
