"""Scoring a large pool from precomputed probabilities (issue 3: "1,000,000 items x 10
classes well under a second").

    python benchmarks/scoring.py [--rows 1000000] [--classes 10] [--repeats 5]

Times each probability-based strategy of ``strategies.query`` (best of ``--repeats``)
on a Dirichlet-random probability matrix, and for scale the same formula as a plain
Python loop over the first 10,000 rows, extrapolated, and modAL's own margin sampling
scorer where modAL is installed (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategies.query import QueryContext, score  # noqa: E402

STRATEGIES = ("least_confidence", "margin", "entropy", "expected_gradient_length")
TARGET_SECONDS = 1.0


def best_of(repeats: int, run) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def python_margin(proba: np.ndarray) -> list[float]:
    out = []
    for row in proba.tolist():
        top = sorted(row, reverse=True)
        out.append(1.0 - (top[0] - top[1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(args.classes), size=args.rows)
    X = np.ones((args.rows, 1))
    print(f"pool {args.rows:,} x {args.classes} classes, best of {args.repeats}")
    for name in STRATEGIES:
        ctx = QueryContext(X_pool=X, proba=proba)
        seconds = best_of(args.repeats, lambda ctx=ctx, name=name: score(name, ctx))
        verdict = "OK" if seconds < TARGET_SECONDS else "MISS"
        print(f"  {name:26s} {seconds:7.3f} s  {verdict} (target < {TARGET_SECONDS:g} s)")
    n = min(10_000, args.rows)
    loop = best_of(1, lambda: python_margin(proba[:n])) * args.rows / n
    print(f"  {'margin, Python loop (est.)':26s} {loop:7.3f} s")
    try:
        from modAL.uncertainty import classifier_margin
    except ImportError:
        print("  modAL not installed (pip install '.[bench]'): no peer figure")
        return

    class Fixed:
        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return proba

    modal = best_of(args.repeats, lambda: classifier_margin(Fixed(), X))
    ours = best_of(args.repeats, lambda: score("margin", QueryContext(X_pool=X, proba=proba)))
    print(f"  {'modAL classifier_margin':26s} {modal:7.3f} s  (ours / modAL = {ours / modal:.2f})")


if __name__ == "__main__":
    main()
