"""Text features of a large pool: scikit-learn's vectorizers against ``strategies.ngrams``
(issue 17: a million items imported, features included, in 20 s).

    python benchmarks/featurise.py [--sizes 100000 1000000] [--chunk 20000]

On the loop benchmark's generated pool (``benchmarks/loop.py``'s ``generate_pool``) it
times, for the old path (sklearn's ``TfidfVectorizer`` / ``HashingVectorizer`` with the
settings ``strategies.features`` used) and the new one (``TextVectorizer`` /
``text_features`` on ``strategies.ngrams``): the vocabulary fit with the pool's rows
(``fit_transform``), the rows of the pool ``--chunk`` items at a time over the fitted
vocabulary (``transform``, as a large import's feature chunks compute them), and hashed
rows (stream mode). Each pair of matrices must be equal; it prints seconds, the ratio
and the load average (other processes share the CPU).
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
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loop import generate_pool  # noqa: E402
from strategies.features import MAX_VOCABULARY, N_TEXT_FEATURES, TextVectorizer, text_features  # noqa: E402


def sklearn_fit(texts: list[str]) -> tuple[TfidfVectorizer, sp.csr_matrix]:
    """The vocabulary fit as `TextVectorizer` ran it on sklearn (a pool of 50+ texts)."""
    tfidf = TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=2,
        max_features=MAX_VOCABULARY,
        sublinear_tf=True,
        dtype=np.float32,
    )
    rows = sp.csr_matrix(tfidf.fit_transform(texts), dtype=np.float32)
    rows.sort_indices()
    return tfidf, rows


def sklearn_hashed(texts: list[str]) -> sp.csr_matrix:
    """`text_features` as it ran on sklearn's `HashingVectorizer`."""
    counts = HashingVectorizer(
        n_features=N_TEXT_FEATURES,
        ngram_range=(1, 2),
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    ).transform(texts)
    counts = sp.csr_matrix(counts, dtype=np.float32)
    np.log(counts.data, out=counts.data)
    counts.data += 1.0
    return sp.csr_matrix(normalize(counts, norm="l2", copy=False), dtype=np.float32)


def in_chunks(transform: Callable[[list[str]], Any], texts: list[str], size: int) -> sp.csr_matrix:
    return sp.csr_matrix(
        sp.vstack([transform(texts[i : i + size]) for i in range(0, len(texts), size)])
    )


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def same(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.allclose(a.data, b.data, rtol=1e-6, atol=1e-7)
    )


def report(step: str, n: int, old: tuple[float, Any], new: tuple[float, Any]) -> bool:
    equal = same(old[1], new[1])
    print(
        f"  {step:24s} {n:>9,}  sklearn {old[0]:7.2f} s  ngrams {new[0]:6.2f} s"
        f"  x{old[0] / new[0]:4.1f}  equal={equal}  load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return equal


def bench(n: int, chunk: int) -> bool:
    texts, _ = generate_pool(n)
    old_fit = timed(lambda: sklearn_fit(texts))
    new_fit = timed(lambda: (v := TextVectorizer(), v.fit_transform(texts)))
    ok = report(
        "vocabulary fit_transform", n, (old_fit[0], old_fit[1][1]), (new_fit[0], new_fit[1][1])
    )
    old_tfidf, new_vectorizer = old_fit[1][0], new_fit[1][0]
    del old_fit, new_fit
    ok &= report(
        f"transform by {chunk:,}",
        n,
        timed(lambda: in_chunks(old_tfidf.transform, texts, chunk)),
        timed(lambda: in_chunks(new_vectorizer.transform, texts, chunk)),
    )
    ok &= report(
        f"hashed by {chunk:,}",
        n,
        timed(lambda: in_chunks(sklearn_hashed, texts, chunk)),
        timed(lambda: in_chunks(text_features, texts, chunk)),
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk", type=int, default=20_000, help="texts per transform call")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}  load average {os.getloadavg()[0]:.2f}")
    ok = all([bench(n, args.chunk) for n in args.sizes])
    print("all equal" if ok else "MISMATCH: the two paths disagree")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
