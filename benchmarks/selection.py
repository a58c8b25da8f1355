"""Batch selection on a large pool (issue 17: "diverse batch selection on a 1M pool <= 1 s").

    python benchmarks/selection.py [--rows 1000000] [--k 20] [--repeats 3]

Times ``strategies.select_batch`` per selector preset on a sparse, text-like pool
(``--nnz`` terms per row over ``--columns``), best of ``--repeats``: over the whole pool
(the library's own path) and over a shortlist of ``k * shortlist_factor`` rows taken
from the top of the scores first (the platform's path: ``model_picks`` reads the top of
the stored ranking and selects among it). "before" is the same selection with the
shortlist cut from a full sort of the pool (``rank_desc``), as it was; the picks are
checked to be equal. ``representative`` over the whole pool computes the pool's density
(an embedding and k-means of every row) unless it is given one: printed once, not judged.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import strategies.selection as selection  # noqa: E402
from strategies._space import rank_desc  # noqa: E402

TARGET_SECONDS = 1.0


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def full_sort(values: np.ndarray, m: int, rng: Any) -> np.ndarray:
    return rank_desc(values, rng)[: max(m, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=50_000)
    parser.add_argument("--nnz", type=int, default=12)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, nnz = args.rows, args.nnz
    X = sp.csr_matrix(
        (
            rng.random(n * nnz).astype(np.float32),
            rng.integers(0, args.columns, n * nnz),
            np.arange(0, n * nnz + 1, nnz),
        ),
        shape=(n, args.columns),
    )
    scores = rng.random(n)
    proba = rng.dirichlet(np.ones(4), n)
    cost = 1.0 + 10.0 * rng.random(n)
    print(f"pool {n:,} x {args.columns:,} (sparse, {nnz} terms a row), k={args.k}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    original = selection.top_desc
    for name, preset in selection.SELECTORS.items():
        if preset.options.representativeness > 0:
            seconds, _ = best_of(1, lambda name=name: selection.select_batch(
                scores, X, args.k, options=name, random_state=0
            ))  # fmt: skip
            print(f"  {name:15s} whole pool, density computed: {seconds:7.2f} s (not judged)")
            continue

        def select(name: str = name, on: slice = slice(None)) -> Any:
            return selection.select_batch(
                scores[on], X[on], args.k, options=name, proba=proba[on], cost=cost[on],
                random_state=0,
            )  # fmt: skip

        after, picked = best_of(args.repeats, select)
        selection.top_desc = full_sort  # type: ignore[assignment]
        try:
            before, picked_before = best_of(args.repeats, select)
        finally:
            selection.top_desc = original
        assert np.array_equal(picked.indices, picked_before.indices), name
        m = args.k * preset.options.shortlist_factor
        top = np.argpartition(-scores, m)[:m]
        top = top[np.argsort(-scores[top])]
        shortlist, _ = best_of(args.repeats, lambda name=name, top=top: select(name, top))
        verdict = "OK" if after < TARGET_SECONDS else "MISS"
        print(
            f"  {name:15s} whole pool {after:6.3f} s (before {before:6.3f} s) {verdict};"
            f" shortlist of {m}: {shortlist * 1000:6.1f} ms  load {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
