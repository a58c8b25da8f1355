"""Real multi-label corpora that ship inside PyPI packages (the ``bench`` extra), for the
multi-label section of ``benchmarks/learning.py``. Nothing is downloaded at run time.

* ``yeast``: river 0.26.1 ships ``river/datasets/yeast.csv.gz``, the MULAN yeast set
  (Elisseeff & Weston 2001): 2,417 genes, 103 numeric expression features, 14 functional
  classes, 4.2 labels per gene on average. Vectors, as a ``vector`` project holds them.
* ``kaomoji``: kaomoji-dataset 1.0.6 ships ``kaomoji_dataset/data/kaomoji.jsonl.gz``,
  82,109 kaomoji with curated ``intent`` and ``subject`` tags. An item is the kaomoji
  itself (what an annotator sees); its features are character 1-3 gram TF-IDF, as a
  ``vector`` project would hold them (word features do not split kaomoji); its labels
  are the tag groups it carries (each group, e.g. greeting/hello/hi/wave, named by its
  first tag). Only the curated ``core`` tier, items with at least one group, groups on
  at least 20 of them: 3,797 items, 29 groups, 1.13 per item.
"""

from __future__ import annotations

import collections
import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MULTILABEL_CORPORA = ("yeast", "kaomoji")


@dataclass
class MultilabelCorpus:
    """Texts or a feature matrix, with a 0/1 indicator matrix ``Y`` of shape ``(n, L)``."""

    name: str
    Y: np.ndarray
    label_names: list[str]
    texts: list[str] | None = None
    features: np.ndarray | None = None
    char_ngrams: bool = False  # the benchmark's features: character 1-3 gram TF-IDF


def load_yeast() -> MultilabelCorpus:
    import river  # type: ignore[import-untyped]

    path = Path(river.__file__).parent / "datasets" / "yeast.csv.gz"
    rows = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode("utf-8"))))
    header, body = rows[0], np.asarray(rows[1:], dtype=np.float64)
    labels = [i for i, name in enumerate(header) if not name.startswith("Att")]
    features = [i for i, name in enumerate(header) if name.startswith("Att")]
    return MultilabelCorpus(
        "yeast",
        body[:, labels].astype(np.int64),
        [header[i] for i in labels],
        features=body[:, features],
    )


def load_kaomoji(least: int = 20) -> MultilabelCorpus:
    import kaomoji_dataset  # type: ignore[import-untyped]

    path = Path(kaomoji_dataset.__file__).parent / "data" / "kaomoji.jsonl.gz"
    items: dict[str, set[str]] = {}
    for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
        row = json.loads(line)
        groups = {tags[0] for tags in (row["intent"], row["subject"]) if tags}
        if row["tier"] == "core" and groups:
            items.setdefault(row["text"], set()).update(groups)
    counts = collections.Counter(g for groups in items.values() for g in groups)
    names = sorted(g for g, n in counts.items() if n >= least)
    kept = [(text, groups & set(names)) for text, groups in items.items() if groups & set(names)]
    Y = np.asarray([[int(n in groups) for n in names] for _, groups in kept], dtype=np.int64)
    return MultilabelCorpus("kaomoji", Y, names, texts=[t for t, _ in kept], char_ngrams=True)


MULTILABEL_LOADERS = {"yeast": load_yeast, "kaomoji": load_kaomoji}
