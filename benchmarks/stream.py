"""Stream mode: decisions per second through the HTTP API, and the stream policy's learning curve.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/winnow_bench \
        python benchmarks/stream.py throughput [--seconds 20] [--clients 8] [--threads 8] \
        [--batch 100]
    python benchmarks/stream.py learning [--repeats 5]

``throughput`` migrates the database given by DATABASE_URL (default: SQLite
under a temporary WINNOW_DATA_DIR), creates a text project whose model is
trained on the shipped demo set (hashed features, ``N_TEXT_FEATURES`` = 2**17
columns), starts ONE gunicorn worker process (gthread, a thread per client by
default) and posts texts to
``/api/projects/{id}/stream/`` from several client processes with keep-alive
sessions, for a fixed time: first one text per post, then batches of
``--batch`` texts per post (``{"items": [...]}``). For each it prints
decisions/s, latency percentiles per post and the query rate against the budget.

``learning`` needs no database: a simulated stream over scikit-learn's digits
whose class prior shifts mid-stream (first half mostly digits 0-4, second half
mostly 5-9). The Žliobaitė et al. (2014) policy (``stream_decide``) and
querying at random spend the same budget; the model is retrained every
``batch`` labels, as the platform does, and evaluated on a held-out test set
after each retrain. It prints both curves and their mean accuracy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# -- throughput ------------------------------------------------------------------------

TARGET_PER_SECOND = 5_000  # in batches of 100 (single posts have no target)


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "winnow.settings")
    os.environ.setdefault("WINNOW_DATA_DIR", tempfile.mkdtemp(prefix="winnow-bench-"))
    os.environ.setdefault("DEBUG", "true")  # sets up data only; the server runs DEBUG=false
    import django

    django.setup()


def _project_with_model(budget: float) -> tuple[int, str, list[str]]:
    """A text project with a model trained on the demo set; returns (id, token, texts)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from projects import demo, services, tasks
    from projects.ingest import services as ingest
    from projects.ingest.parsers import ParsedRow
    from projects.models import ModelVersion

    call_command("migrate", verbosity=0, interactive=False)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    token, _ = Token.objects.get_or_create(user=user)
    rows = demo.demo_rows()
    labels = sorted({label for _, label in rows})
    project = services.project_create(
        user=user,
        name=f"stream bench {time.time():.0f}",
        kind="text",
        labels=labels,
        batch_size=50,
        stream_budget=budget,
    )
    train, stream = rows[:1500], rows[1500:]
    ingest.items_import(
        project=project,
        rows=[ParsedRow(line=i, text=t, label=y) for i, (t, y) in enumerate(train)],
    )
    owed = ModelVersion.objects.get(project=project, status="pending")
    tasks.retrain(owed.pk)
    return project.pk, token.key, [t for t, _ in stream]


def _client(url: str, token: str, texts: list[str], batch: int, until: float, out: Any) -> None:
    """One keep-alive connection posting texts (one per post, or ``batch`` per post
    if above 1) until `until` (plain http.client: the load generator shares the
    machine's cores with the server, so it must be light)."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    latencies, decisions, queried, errors, i = [], 0, 0, 0, 0
    while time.time() < until:
        if batch > 1:
            chunk = [texts[(i + k) % len(texts)] for k in range(batch)]
            body = json.dumps({"items": [{"text": t} for t in chunk]})
        else:
            body = json.dumps({"text": texts[i % len(texts)]})
        started = time.perf_counter()
        conn.request("POST", parts.path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status == 200:  # only answered decisions count
            latencies.append(time.perf_counter() - started)
            answer = json.loads(payload)
            answers = answer["decisions"] if batch > 1 else [answer]
            decisions += len(answers)
            queried += sum(bool(a["query"]) for a in answers)
        else:
            errors += 1
        i += batch
    conn.close()
    out.put((latencies, decisions, queried, errors))


def _start_web(port: int, threads: int) -> Any:
    import subprocess

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "winnow.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ],
        cwd=ROOT,
        env=env,
    )


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def throughput(
    seconds: float, clients: int, threads: int, budget: float, batch: int
) -> dict[str, Any]:
    _setup_django()
    from django.db import connection

    from strategies.features import N_TEXT_FEATURES

    pid, token, texts = _project_with_model(budget)
    connection.close()
    port = 8700 + os.getpid() % 1000
    web = _start_web(port, threads)
    try:
        _wait_port(port)
        url = f"http://127.0.0.1:{port}/api/projects/{pid}/stream/"
        _client(url, token, texts, 1, time.time() + 2, mp.Queue())  # warm up the model cache
        runs = {
            "single": _run(url, token, texts, 1, seconds, clients, pid, budget),
            f"batch_{batch}": _run(url, token, texts, batch, seconds, clients, pid, budget),
        }
    finally:
        web.terminate()
        web.wait(timeout=30)
    runs[f"batch_{batch}"]["target"] = (
        "OK" if runs[f"batch_{batch}"]["decisions_per_second"] >= TARGET_PER_SECOND else "MISS"
    ) + f" (>= {TARGET_PER_SECOND}/s in batches of 100)"
    return {
        "database": connection.vendor,
        "model_features": N_TEXT_FEATURES,
        "clients": clients,
        "web": f"1 gunicorn gthread worker x {threads} threads",
        "budget": budget,
        **runs,
    }


def _run(
    url: str,
    token: str,
    texts: list[str],
    batch: int,
    seconds: float,
    clients: int,
    pid: int,
    budget: float,
) -> dict[str, Any]:
    """``clients`` processes posting for ``seconds``: decisions/s and latency per post."""
    from projects.models import Item, Project

    stored_before = Item.objects.filter(project_id=pid, from_stream=True).count()
    seen_before = Project.objects.get(pk=pid).stream_state.get("seen", 0)
    out: Any = mp.Queue()
    until = time.time() + seconds
    procs = [
        mp.Process(target=_client, args=(url, token, texts[k::clients], batch, until, out))
        for k in range(clients)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    latencies = np.concatenate([np.asarray(r[0]) for r in results])
    decisions = sum(r[1] for r in results)
    state = Project.objects.get(pk=pid).stream_state
    stored = Item.objects.filter(project_id=pid, from_stream=True).count() - stored_before
    return {
        "items_per_post": batch,
        "seconds": round(elapsed, 2),
        "posts": len(latencies),
        "decisions": decisions,
        "stored_items": stored,
        "counted_arrivals": state["seen"] - seen_before,
        "errors": sum(r[3] for r in results),
        "decisions_per_second": round(decisions / elapsed, 1),
        "latency_ms_per_post": {
            q: round(float(np.percentile(latencies, q)) * 1000, 2) for q in (50, 90, 99)
        },
        "query_rate": round(sum(r[2] for r in results) / max(decisions, 1), 4),
    }


# -- learning under a prior shift --------------------------------------------------------


def shifted_stream(
    y: np.ndarray, n: int, *, rng: np.random.Generator, major: float = 0.85
) -> np.ndarray:
    """Row indices of a stream of ``n`` items whose class prior flips at the midpoint.

    First half: ``major`` of the items from classes 0-4; second half from 5-9.
    """
    low, high = np.flatnonzero(y < 5), np.flatnonzero(y >= 5)
    half = n // 2
    rows = []
    for t in range(n):
        first, second = (low, high) if t < half else (high, low)
        pool = first if rng.random() < major else second
        rows.append(int(rng.choice(pool)))
    return np.asarray(rows)


def _run_policy(
    policy: str,
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    stream_rows: np.ndarray,
    *,
    budget: float,
    batch: int,
    seed: int,
) -> list[dict[str, float]]:
    from strategies.models import train_model
    from strategies.stream import StreamState, stream_decide

    n_classes = int(y.max()) + 1
    rng = np.random.default_rng(seed)
    labelled: list[int] = []
    model = None
    state = StreamState()
    curve: list[dict[str, float]] = []
    since_train = 0
    for t, row in enumerate(stream_rows):
        if model is None or policy == "random":
            query = state.queried < budget * max(state.seen, 1) and (
                model is None or rng.random() < budget
            )
            state = StreamState(state.threshold, state.seen + 1, state.queried + int(query))
        else:
            top = float(model.predict_proba(X[row : row + 1]).max())
            query, state = stream_decide(state, top, budget=budget, rng=rng)
        if query:
            labelled.append(int(row))
            since_train += 1
        if since_train >= batch or (model is None and len(labelled) >= 2):
            model = train_model(X[labelled], y[labelled], n_classes, random_state=seed)
            since_train = 0
            accuracy = float(np.mean(model.predict(X_test) == y_test))
            curve.append({"arrivals": t + 1, "labels": len(labelled), "accuracy": accuracy})
    return curve


def learning(repeats: int, n: int, budget: float, batch: int) -> dict[str, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    results: dict[str, list[list[dict[str, float]]]] = {"stream_policy": [], "random": []}
    for repeat in range(repeats):
        X_pool, X_test, y_pool, y_test = train_test_split(
            digits.data,
            digits.target,
            test_size=0.3,
            random_state=repeat,
            stratify=digits.target,
        )
        scaler = StandardScaler().fit(X_pool)
        X_pool, X_test = scaler.transform(X_pool), scaler.transform(X_test)
        rows = shifted_stream(y_pool, n, rng=np.random.default_rng(100 + repeat))
        for policy, key in (("stream", "stream_policy"), ("random", "random")):
            results[key].append(
                _run_policy(
                    policy,
                    X_pool,
                    y_pool,
                    X_test,
                    y_test,
                    rows,
                    budget=budget,
                    batch=batch,
                    seed=repeat,
                )
            )
    return {
        "arrivals": n,
        "budget": budget,
        "batch": batch,
        "repeats": repeats,
        "summary": _summary(results, n),
        "runs": results,
    }


def _summary(results: dict[str, list[list[dict[str, float]]]], n: int) -> dict[str, Any]:
    """Accuracy at fixed arrival checkpoints (last retrain before each), mean over repeats."""
    checkpoints = [n // 8 * k for k in range(1, 9)]
    summary = {}
    for name, runs in results.items():
        table = []
        for cp in checkpoints:
            accs, labels = [], []
            for curve in runs:
                before = [p for p in curve if p["arrivals"] <= cp]
                if before:
                    accs.append(before[-1]["accuracy"])
                    labels.append(before[-1]["labels"])
            table.append(
                {
                    "arrivals": cp,
                    "labels": float(np.mean(labels)) if labels else 0,
                    "accuracy": round(float(np.mean(accs)), 4) if accs else None,
                }
            )
        mean_acc = [p["accuracy"] for p in table if p["accuracy"] is not None]
        summary[name] = {
            "curve": table,
            "mean_accuracy": round(float(np.mean(mean_acc)), 4),
            "labels_used": float(np.mean([r[-1]["labels"] for r in runs])),
        }
    return summary


def _print_learning(result: dict[str, Any]) -> None:
    summary = result["summary"]
    print(
        f"digits stream, {result['arrivals']} arrivals, prior shift at the midpoint, "
        f"budget {result['budget']}, retrain every {result['batch']} labels, "
        f"{result['repeats']} repeats (mean)"
    )
    print(f"{'arrivals':>8} | {'stream policy':^20} | {'random':^20}")
    print(f"{'':>8} | {'labels':>8} {'accuracy':>10} | {'labels':>8} {'accuracy':>10}")
    for a, b in zip(summary["stream_policy"]["curve"], summary["random"]["curve"], strict=True):
        print(
            f"{a['arrivals']:>8} | {a['labels']:>8.1f} {a['accuracy']:>10.4f} | "
            f"{b['labels']:>8.1f} {b['accuracy']:>10.4f}"
        )
    for name, s in summary.items():
        print(
            f"{name}: mean accuracy over checkpoints {s['mean_accuracy']:.4f}, "
            f"labels used {s['labels_used']:.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--seconds", type=float, default=20)
    t.add_argument("--clients", type=int, default=8)
    t.add_argument("--threads", type=int, default=8)
    t.add_argument("--budget", type=float, default=0.1)
    t.add_argument("--batch", type=int, default=100, help="items per post in the batch run")
    lp = sub.add_parser("learning")
    lp.add_argument("--repeats", type=int, default=5)
    lp.add_argument("--arrivals", type=int, default=1200)
    lp.add_argument("--budget", type=float, default=0.1)
    lp.add_argument("--batch", type=int, default=10)
    args = parser.parse_args(argv)
    if args.what == "throughput":
        print(
            json.dumps(
                throughput(args.seconds, args.clients, args.threads, args.budget, args.batch),
                indent=2,
            )
        )
    else:
        result = learning(args.repeats, args.arrivals, args.budget, args.batch)
        _print_learning(result)


if __name__ == "__main__":
    main()
