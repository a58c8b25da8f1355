"""A span project's rescore with 1 and with 2 worker processes (issue 17).

    python benchmarks/span_scaleout.py [--pool 20000] [--chunk 2000] [--workers 2] [--repeats 2]

The stack is `loop.py`'s (its own database and data dir, gunicorn, one Celery worker on
Redis; all removed at the end); the timing is `scaleout.py`'s `rescore_scaling`: the
project retrains `--repeats` times with one worker, then with `--workers`, and prints
the best rescore (`score` in the version's timings: the CRF's pass over every unlabeled
sentence and the strategy's scores), the ratio, and the load average of each run.

The pool is the WNUT tweets (`benchmarks/span_corpora.py`) repeated up to `--pool`
sentences (a repeat tagged so no two texts are the same), the first `--seeds` with
their spans as seed labels; each retrain follows a batch labelled with the true spans.
The rescore is split into chunks of `--chunk` sentences (WINNOW_SPAN_SCORE_SENTENCES).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from loop import _TIMINGS, TIMEOUT, peak_rss_mb, stack, wait_model  # noqa: E402
from scaleout import rescore_scaling  # noqa: E402

from benchmarks.span_corpora import load_wnut  # noqa: E402
from strategies.spans.formats import SpanDocument  # noqa: E402


def span_pool(n: int) -> list[SpanDocument]:
    """`n` tweets: the corpus, then again with a tag per repeat (distinct texts)."""
    docs = [d for d in load_wnut() if d.text.strip()]
    pool = []
    for i in range(n):
        doc = docs[i % len(docs)]
        repeat = i // len(docs)
        pool.append(SpanDocument(f"{doc.text} r{repeat}" if repeat else doc.text, doc.spans))
    return pool


def project_with_pool(
    lead: requests.Session, url: str, pool: list[SpanDocument], seeds: int
) -> int:
    labels = sorted({s.label for d in pool for s in d.spans})
    body = {"name": "Tweets", "kind": "text", "task": "spans", "labels": labels}
    body |= {"strategy": "mnlp", "batch_size": 20}
    created = lead.post(f"{url}/api/projects/", json=body, timeout=60)
    created.raise_for_status()
    pid: int = created.json()["id"]
    member = {"username": "annotator", "role": "annotator"}
    lead.post(f"{url}/api/projects/{pid}/members/", json=member, timeout=60).raise_for_status()
    lines = [json.dumps(d.as_dict() if i < seeds else {"text": d.text}) for i, d in enumerate(pool)]
    upload = {"file": ("pool.jsonl", "\n".join(lines).encode())}
    imported = lead.post(f"{url}/api/projects/{pid}/import/", files=upload, timeout=TIMEOUT)
    imported.raise_for_status()
    assert imported.json()["created"] == len(pool), imported.text
    return pid


def label_batch(session: requests.Session, url: str, pid: int, truth: dict[str, Any]) -> None:
    """Label the current batch with the true spans until the batch number changes."""
    status = f"{url}/api/projects/{pid}/status/"
    first = session.get(status, timeout=60).json()["batch"]["number"]
    while session.get(status, timeout=60).json()["batch"]["number"] == first:
        item = session.get(f"{url}/api/projects/{pid}/next/", timeout=60).json()["item"]
        answer = {"item": item["id"], "spans": truth[item["text"]], "confidence": 4}
        posted = session.post(f"{url}/api/projects/{pid}/annotations/", json=answer, timeout=60)
        posted.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=2000, help="WINNOW_SPAN_SCORE_SENTENCES")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="retrains timed per worker count")
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    )
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/12")
    )
    parser.add_argument("--db-name", default="winnow_bench_spans")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    os.environ["WINNOW_SPAN_SCORE_SENTENCES"] = str(args.chunk)  # the stack's env, and so
    pool = span_pool(args.pool)  # every worker's
    truth = {d.text: [s.as_dict() for s in d.spans] for d in pool}
    print(
        f"Span rescore scale-out: {len(pool):,} sentences, chunks of {args.chunk}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    with stack(
        args.pg, args.redis, db_name=args.db_name, port=args.port, web_workers=2,
        web_threads=2, web_class="gthread", worker_nice=0, users=["lead", "annotator"],
    ) as running:  # fmt: skip
        lead, annotator = running.session("lead"), running.session("annotator")
        pid = project_with_pool(lead, running.url, pool, args.seeds)
        wait_model(lead, running.url, pid, 1)
        rescore_scaling(
            running,
            pid,
            workers=args.workers,
            repeats=args.repeats,
            timings=_TIMINGS,
            rss=lambda: peak_rss_mb(running.worker_pid),
            label=lambda: label_batch(annotator, running.url, pid, truth),
            wait=lambda version: wait_model(lead, running.url, pid, version),
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
