"""The rescore with 1 and with N worker processes (issue 17), for `loop.py --workers N`.

After `loop.py` has measured a pool, N-1 more workers are started beside the stack's
(each with its own WINNOW_CACHE_DIR, as on another host; the artifact store is the
stack's), and the same project retrains `--repeats` times with the stack's worker alone
(the others take no messages: Celery's remote control) and as many times with all N, in
turns. In turns, because retrains in a row slow down (in one run the first two with one
worker scored in 0.83 s, the next four in 1.04-1.14 s): one kind measured after the
other would meet a different machine. Each retrain's own timings
(`ModelVersion.timings`) give the rescore: `score` is the whole pool's probabilities and
strategy scores, the part split in chunks of WINNOW_RESCORE_CHUNK_ITEMS over the
workers. The first WARM_UP retrains fill the caches (a new worker reads the feature
shards once) and are not counted. The machine's load average is printed with each
figure: other processes share the CPUs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

import requests

ROOT = Path(__file__).resolve().parent.parent
Wait = Callable[[int], None]
# Retrains before the timed ones: every worker reads the feature shards into its cache.
WARM_UP = 2

# The machine's own floor, the peer of the ratio: the same chunks scored by the same
# scorer (the latest model, the project's strategy), once in one process and once split
# between N processes forked at once, with nothing else: no claims, no stored results,
# no merge. What N processes gain on this machine when they share nothing but it.
_FLOOR = """
import json, time
import multiprocessing as mp
from django.conf import settings
from django.db import connections
from projects.models import ModelVersion, Project
from projects.pool import features
from projects.training.scorers import ProbaScorer
from projects.training.services import load_model
from strategies import query

project = Project.objects.get(pk=%(pid)d)
version = ModelVersion.objects.filter(project=project, status="done").latest("version")
row_local = query.STRATEGIES[project.strategy].row_local
scorer = ProbaScorer(
    load_model(project.pk, version.version), strategy=project.strategy if row_local else None
)
ids = features.features_load(project.pk).ids
size, processes, repeats = settings.WINNOW_RESCORE_CHUNK_ITEMS, %(processes)d, %(repeats)d
chunks = [ids[s : s + size] for s in range(0, len(ids), size)]
connections.close_all()  # the children fork without the parent's connection

def score(mine):
    for chunk in mine:
        scorer.score_ids(project.pk, chunk)

def child(mine, go, done):
    go.wait()
    score(mine)
    done.put(time.perf_counter())

score(chunks)  # every row this process reads is mapped in before the timed passes
ctx = mp.get_context("fork")
one, many = [], []
for _ in range(repeats):  # in turns, as the retrains
    t = time.perf_counter()
    score(chunks)
    one.append(time.perf_counter() - t)
    go, done = ctx.Event(), ctx.Queue()
    shares = [chunks[i::processes] for i in range(processes)]
    kids = [ctx.Process(target=child, args=(share, go, done)) for share in shares]
    for kid in kids:
        kid.start()
    time.sleep(0.2)
    t = time.perf_counter()
    go.set()
    ends = [done.get() for _ in kids]
    many.append(max(ends) - t)
    for kid in kids:
        kid.join()
print(json.dumps({"one": one, "many": many, "chunks": len(chunks)}))
"""


class Running(Protocol):
    url: str
    env: dict[str, str]

    def python(self, code: str) -> Any: ...

    def session(self, user: str) -> requests.Session: ...


def worker_start(
    env: dict[str, str], log: Path, name: str, logs: ExitStack
) -> subprocess.Popen[bytes]:
    """Another Celery worker process (solo pool, as the stack's) with its own cache dir."""
    # LOG_LEVEL: the stack's is WARNING, which hides the chunk lines `_print` reports.
    own = {**env, "WINNOW_CACHE_DIR": str(log.with_suffix("")) + "-cache", "LOG_LEVEL": "INFO"}
    out = logs.enter_context(log.open("wb"))
    command = [sys.executable, "-m", "celery", "-A", "winnow", "worker", "--pool", "solo"]
    command += ["--loglevel", "INFO", "--without-gossip", "--without-mingle", "-n", name]
    # Its own session, as a process on another host or in another container would be: with
    # the kernel's autogroup scheduling, processes of one session share one CPU share, so
    # on a machine other work keeps busy a second worker in the first's session adds no CPU.
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=own,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _retrains(
    running: Running, pid: int, times: int, timings: str, label: Callable[[], None], wait: Wait
) -> list[dict[str, float]]:
    """Label `times` batches, one retrain each; each finished version's timings.

    The version a batch starts is the last one recorded plus one, found before labelling,
    so that no `manage.py shell` (a second or more of CPU) runs beside the retrain being
    timed. (Measured back to back, the ratio moved less than it moves between runs.)
    """
    found = []
    for _ in range(times):
        latest = max(v["version"] for v in running.python(timings % pid)) + 1
        label()
        wait(latest)
        version = next(v for v in running.python(timings % pid) if v["version"] == latest)
        found.append({**version["timings"], "load": os.getloadavg()[0]})
    return found


def rescore_scaling(
    running: Running,
    pid: int,
    *,
    workers: int,
    repeats: int,
    timings: str,
    label: Callable[[], None],
    wait: Wait,
    rss: Callable[[], float] | None = None,
) -> None:
    """Print the rescore with 1 worker and with `workers`, and their ratio.

    `label` labels one batch (a retrain is owed); `wait(v)` returns once version v is done.
    """
    data_dir = Path(running.env["WINNOW_DATA_DIR"])
    names = [f"bench-extra-{i}@bench" for i in range(1, workers)]
    one: list[dict[str, float]] = []
    many: list[dict[str, float]] = []
    with ExitStack() as logs:
        extra = [
            worker_start(running.env, data_dir / f"worker-{i}.log", names[i - 1], logs)
            for i in range(1, workers)
        ]
        try:
            _retrains(running, pid, WARM_UP, timings, label, wait)  # not counted
            for _ in range(repeats):  # in turns: both kinds meet the same drift
                _consuming(running.env, names, on=False)
                one += _retrains(running, pid, 1, timings, label, wait)
                _consuming(running.env, names, on=True)
                many += _retrains(running, pid, 1, timings, label, wait)
            peaks = [_peak_rss_mb(p.pid) for p in extra]
        finally:
            for process in extra:
                process.terminate()
            for process in extra:
                process.wait(timeout=30)
    _print(one, many, workers)
    _floor(running, pid, workers, repeats)
    first = f"{rss():.0f} MB; " if rss is not None else ""
    others = ", ".join(f"{p:.0f} MB" for p in peaks)
    print(f"  worker peak RSS (VmHWM): worker 1 {first}the others {others} (target <= 2048 MB)")
    for i in range(1, workers):  # what the extra workers' chunks cost them
        log = (data_dir / f"worker-{i}.log").read_text(errors="replace").splitlines()
        chunks = [line.split("] ", 1)[-1] for line in log if "rescore chunk" in line]
        print(f"  worker {i + 1} scored {len(chunks)} chunks; the last: {chunks[-3:]}")


def _floor(running: Running, pid: int, workers: int, repeats: int) -> None:
    """Print the machine's own N:1 ratio for the same scoring with no coordination
    (`_FLOOR`), beside the rescore's: the ratio the rescore could reach at best here."""
    found = running.python(_FLOOR % {"pid": pid, "processes": workers, "repeats": repeats})
    one, many = found["one"], found["many"]
    ratio = min(many) / max(min(one), 1e-9)
    middle = statistics.median(many) / max(statistics.median(one), 1e-9)
    print(
        f"  the machine's floor: the same {found['chunks']} chunks scored with no "
        f"coordination, 1 process {min(one):.2f} s (median {statistics.median(one):.2f}), "
        f"{workers} forked at once {min(many):.2f} s (median {statistics.median(many):.2f}): "
        f"ratio {ratio:.2f} best, {middle:.2f} median"
    )


def _consuming(env: dict[str, str], names: list[str], *, on: bool) -> None:
    """Let the workers `names` take messages from the queue again, or stop them (Celery's
    remote control; between retrains, when they hold none)."""
    from celery import Celery

    if not names:  # no destination would tell every worker, the stack's too
        return
    control = Celery(broker=env["CELERY_BROKER_URL"]).control
    command = control.add_consumer if on else control.cancel_consumer
    replies = command("celery", destination=names, reply=True, timeout=10, limit=len(names))
    if len(replies or []) != len(names):
        raise RuntimeError(f"not every worker answered: {replies}")


def _peak_rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    kb = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(kb[0]) / 1024 if kb else float("nan")


def _print(one: list[dict[str, float]], many: list[dict[str, float]], workers: int) -> None:
    """Each retrain, then the best and the median of each kind and their ratios: on a
    2-core host that also runs the web, PostgreSQL and this script, one worker's score
    step varies by half from one retrain to the next, so one ratio says little alone."""

    def best(runs: list[dict[str, float]], key: str) -> float:
        return min(r.get(key, 0.0) for r in runs)

    def median(runs: list[dict[str, float]], key: str) -> float:
        return float(statistics.median(r.get(key, 0.0) for r in runs))

    print(f"\n== rescore: 1 worker against {workers} (best of {len(one)}; load average) ==")
    for label, runs in (("1 worker", one), (f"{workers} workers", many)):
        each = ", ".join(
            f"{r['score']:.2f} s (load {r['load']:.1f}; chunks elsewhere "
            f"{r.get('score_chunks_elsewhere', 0):.0f}/{r.get('score_chunks', 0):.0f}; "
            f"setup {r.get('score_setup', 0):.2f} s, here {r.get('score_here', 0):.2f} s, "
            f"waited {r.get('score_waited', 0):.2f} s, "
            f"read {r.get('score_read', 0):.2f} s)"
            for r in runs
        )
        score, total = best(runs, "score"), best(runs, "total")
        print(
            f"  {label:10s} score {score:6.2f} s (median {median(runs, 'score'):.2f})  "
            f"total {total:6.2f} s  [{each}]"
        )
    ratio = best(many, "score") / max(best(one, "score"), 1e-9)
    middle = median(many, "score") / max(median(one, "score"), 1e-9)
    verdict = "OK" if ratio <= 0.6 else "over"
    print(
        f"  ratio {workers}:1 of the rescore (score) {ratio:.2f} best, {middle:.2f} median  "
        f"(target <= 0.60: {verdict})"
    )
