"""Scoring a span pool with a trained CRF: what a span project's retrain spends on the
pool (``projects.training.spans.SpanChunkScorer.score_ids`` without the database reads).

    python benchmarks/span_scoring.py [--pool 100000] [--train 300] [--chunk 2000] [--sample 3000]

The pool is the WNUT tweets (``benchmarks/span_corpora.py``) repeated up to ``--pool``
sentences; the CRF is trained on the first ``--train``. Prints, per phase, the seconds
of the vectorised pass (``strategies.spans.inference.predict_padded``, chunk by chunk,
then MNLP) and, on the first ``--sample`` sentences extrapolated to the pool, the
tagger's one-sentence-at-a-time ``SpanModel.predict_sequences``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.span_corpora import load_wnut  # noqa: E402
from strategies.spans.crf import train_span_model  # noqa: E402
from strategies.spans.inference import compile_crf, decode, emissions  # noqa: E402
from strategies.spans.query import mnlp_scores  # noqa: E402
from strategies.spans.simulate import tagged  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=3000)
    args = parser.parse_args()
    words, tags = tagged(load_wnut())
    labels = sorted({t.split("-", 1)[1] for row in tags for t in row if t != "O"})
    model = train_span_model(words[: args.train], tags[: args.train], labels)
    pool = [words[i % len(words)] for i in range(args.pool)]
    tokens = sum(map(len, pool))
    print(f"pool {len(pool)} sentences, {tokens} tokens, {len(model.tags)} tags")

    compiled = compile_crf(model)
    spent = {"features": 0.0, "state scores": 0.0, "forward-backward+viterbi": 0.0}
    scores = []
    for start in range(0, len(pool), args.chunk):
        chunk = pool[start : start + args.chunk]
        t = time.perf_counter()
        xseqs = model.features(chunk)
        spent["features"] += time.perf_counter() - t
        t = time.perf_counter()
        emit = emissions(compiled, xseqs)
        lengths = np.array([len(x) for x in xseqs])
        mask = np.arange(emit.shape[1])[None, :] < lengths[:, None]
        spent["state scores"] += time.perf_counter() - t
        t = time.perf_counter()
        prediction = decode(compiled, emit, mask)
        scores.append(mnlp_scores(prediction.path_proba, prediction.lengths))
        spent["forward-backward+viterbi"] += time.perf_counter() - t
    for phase, seconds in spent.items():
        print(f"vectorised  {phase:26s} {seconds:8.2f} s")
    print(f"vectorised  {'total':26s} {sum(spent.values()):8.2f} s")

    sample = pool[: args.sample]
    t = time.perf_counter()
    model.features(sample)
    features = time.perf_counter() - t
    t = time.perf_counter()
    model.predict_sequences(sample)
    tagger = time.perf_counter() - t
    scale = len(pool) / len(sample)
    print(f"tagger      {'total (extrapolated)':26s} {tagger * scale:8.2f} s")
    print(f"tagger      {'beyond features (extr.)':26s} {(tagger - features) * scale:8.2f} s")


if __name__ == "__main__":
    main()
