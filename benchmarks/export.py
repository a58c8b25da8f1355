"""Export of a large labelled project in constant memory (issue 17).

    python benchmarks/export.py [--rows 1000000 --small 100000] [--pg postgres://...]
                                [--db-name winnow_throughput] [--code DIR]

Creates (drops first) ``--db-name``, migrates it, and fills two projects of labelled
text items (each with one annotation), ``--small`` and ``--rows`` of them, by the
import's own insert (`projects.ingest.bulk.items_insert`). Then, per project and format,
a fresh process streams the export (`projects.exports.export_jsonl` / `export_csv`,
what the export view hands to its `StreamingHttpResponse`) to nowhere and prints rows,
megabytes, seconds and its peak RSS above its RSS before the export. Constant memory
means the figure does not grow with the rows. ``--code`` runs the export with another
checkout's code (e.g. ``--code /work/main .``: the figures before and after a change).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["news", "sport"]
INSERT_CHUNK = 100_000


def _env(pg: str, db_name: str, data_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"{pg}/{db_name}",
        WINNOW_DATA_DIR=data_dir,
        DJANGO_SETTINGS_MODULE="winnow.settings",
        DEBUG="false",
        SECRET_KEY="bench-" + "x" * 50,
        LOG_LEVEL="WARNING",
    )
    return env


def _django(code: Path) -> None:
    # The venv's editable install of this checkout would win over sys.path: drop it.
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, str(code))
    import django

    django.setup()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def populate(sizes: list[int]) -> list[int]:
    """One project of `n` labelled items per size; returns their ids."""
    _django(ROOT)
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from projects.ingest.bulk import items_insert
    from projects.ingest.parsers import ParsedRow
    from projects.models import Annotation, Item, Project

    user, _ = get_user_model().objects.get_or_create(username="lead")
    pids = []
    for n in sizes:
        project = Project.objects.create(name=f"export {n}", kind="text", labels=LABELS)
        for start in range(0, n, INSERT_CHUNK):
            rows = [
                ParsedRow(
                    line=i,
                    text=f'item {i}: a short text, "quoted", to export',
                    label=LABELS[i % 2],
                    meta={"i": i},
                )
                for i in range(start, min(n, start + INSERT_CHUNK))
            ]
            with transaction.atomic():
                items_insert(project.pk, rows)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Annotation._meta.db_table}"
                " (project_id, item_id, annotator_id, label, confidence, created_at)"
                f" SELECT project_id, id, %s, label, 3, now() FROM {Item._meta.db_table}"
                " WHERE project_id = %s",
                [user.pk, project.pk],
            )
            cursor.execute("ANALYZE")
        pids.append(project.pk)
    return pids


def measure(code: Path, pid: int, fmt: str) -> dict[str, float]:
    """Stream one export to nowhere; its rows, size, time and memory."""
    _django(code)
    import importlib

    from projects.models import Project

    try:  # the exports' home since multi-label projects; older checkouts kept them in selectors
        module = importlib.import_module("projects.exports")
    except ImportError:
        module = importlib.import_module("projects.selectors")
    project = Project.objects.get(pk=pid)
    export = module.export_jsonl if fmt == "jsonl" else module.export_csv
    before = _rss_mb()
    started = time.perf_counter()
    size = lines = 0
    for piece in export(project):
        size += len(piece.encode())
        lines += piece.count("\n")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert Path(module.__file__ or "").is_relative_to(code.resolve()), module.__file__
    return {
        "lines": lines,
        "mb": size / 1e6,
        "s": seconds,
        "peak_mb": peak,
        "growth_mb": peak - before,
    }


def _measured(me: list[str], env: dict[str, str], code: Path, pid: int, fmt: str) -> Any:
    command = [*me, "--code", str(code), "--measure", str(pid), fmt]
    # In `code`'s directory: Celery's loader puts the working directory on sys.path.
    out = subprocess.run(command, env=env, cwd=code, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="winnow_throughput")
    parser.add_argument("--code", type=Path, nargs="+", default=[ROOT])
    parser.add_argument("--measure", nargs=2, metavar=("PROJECT", "FORMAT"), help=argparse.SUPPRESS)
    parser.add_argument("--populate", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.code[0], int(args.measure[0]), args.measure[1])))
        return
    if args.populate:
        print(json.dumps(populate(args.populate)))
        return

    import psycopg2

    admin = psycopg2.connect(f"{args.pg}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {args.db_name} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {args.db_name}")
    env = _env(args.pg, args.db_name, tempfile.mkdtemp(prefix="winnow-export-"))
    me = [sys.executable, str(Path(__file__).resolve())]
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    started = time.perf_counter()
    out = subprocess.run(
        [*me, "--populate", str(args.small), str(args.rows)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    pids = json.loads(out.stdout.splitlines()[-1])
    print(
        f"filled {args.small:,} + {args.rows:,} labelled items"
        f" in {time.perf_counter() - started:.0f} s"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")
    sizes = list(zip(pids, (args.small, args.rows), strict=True))
    for code in args.code:
        for (pid, n), fmt in ((size, fmt) for size in sizes for fmt in ("jsonl", "csv")):
            r = _measured(me, env, code, pid, fmt)
            assert r["lines"] >= n, r
            print(
                f"  {code.resolve().name:>13s} {n:>9,} items {fmt:5s} {r['mb']:7.1f} MB"
                f" {r['s']:6.1f} s {n / r['s']:9,.0f} rows/s  peak RSS {r['peak_mb']:6.0f} MB"
                f" (+{r['growth_mb']:.0f} MB during the export)  load {os.getloadavg()[0]:.2f}"
            )
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {args.db_name} WITH (FORCE)")


if __name__ == "__main__":
    main()
