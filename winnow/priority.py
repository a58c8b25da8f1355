"""A worker's CPU priority: its tasks yield to web requests, its lock holders do not.

A worker runs its tasks at WINNOW_WORKER_NICE, so that on a host it shares with the web
the annotators' requests come first. But work that holds locks those requests wait on
(a retrain's last transaction takes the project's batch locks) must not run niced: on
a busy host it then gets a sliver of a CPU between its statements while requests queue
behind its locks, a priority inversion. Measured on 2 cores, 16 paced annotators on a
1M-item pool with retrains back to back: requests waited on the batches lock for 356 ms
at the median and up to 2.4 s.

So each worker process keeps one thread at the priority it started with, and
`urgently` runs such work there. Niceness is a per-thread attribute on Linux: a task's
thread raises its own at its first task (`background`, from `task_prerun`), once that
thread has been started, and only then. A prefork pool's processes each start their own.
Where threads do not have a niceness of their own, `urgently` just runs the work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections

T = TypeVar("T")

_lock = threading.Lock()
# The process whose urgent thread `_executor` is (a forked child has none of its own yet).
_owner: dict[str, Any] = {"pid": None, "executor": None, "niceness": 0}


def thread_niceness() -> int:
    """The calling thread's niceness (Linux keeps one per thread)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def background(target: int) -> int:
    """Raise the calling thread's niceness to `target` (never lower it: that takes
    privilege) after making sure this process has its urgent thread, started at the
    priority the caller has now. Returns the thread's niceness."""
    if not hasattr(os, "setpriority"):
        return 0
    current = thread_niceness()
    if target <= current:
        return current
    _urgent_executor(current)
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), target)
    return target


def _urgent_executor(niceness: int) -> ThreadPoolExecutor:
    with _lock:
        if _owner["pid"] != os.getpid():
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="winnow-urgent")
            executor.submit(lambda: None).result()  # the thread runs now, at this priority
            _owner.update(pid=os.getpid(), executor=executor, niceness=niceness)
        return _owner["executor"]  # type: ignore[no-any-return]


def urgently(fn: Callable[[], T]) -> T:
    """`fn()` at the process's starting priority, waited for: on the urgent thread when
    the caller runs niced, else right here. The urgent thread has a database connection
    of its own, so `fn` must not need the caller's open transaction."""
    with _lock:
        executor = _owner["executor"] if _owner["pid"] == os.getpid() else None
        niceness = _owner["niceness"]
    if executor is None or thread_niceness() <= niceness:
        return fn()
    return executor.submit(_with_connection, fn).result()


def _with_connection(fn: Callable[[], T]) -> T:
    close_old_connections()  # as a task would: drop a connection the server closed
    try:
        return fn()
    finally:
        close_old_connections()
