"""Token features for the CRF, and one feature row per sentence for batch selection.

The token features are the classic ones of CRF named-entity taggers (Lafferty et al.
2001; the CoNLL-2003 systems): the word in lower case, its shape, affixes, case and
digit flags, the same for the neighbours, and membership of a gazetteer phrase.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.preprocessing import normalize

Features = dict[str, str | float | bool]
SENTENCE_DIM = 2**16
_UPPER, _LOWER, _DIGIT = re.compile(r"[A-ZÀ-Þ]"), re.compile(r"[a-zß-ÿ]"), re.compile(r"\d")


def word_shape(word: str) -> str:
    """Capitals to ``X``, small letters to ``x``, digits to ``d``, repeats collapsed.

    ``"McDonald's"`` -> ``"XxXx'x"``; ``"2026-12"`` -> ``"d-d"`` (Collins 2002's
    "word classes", short form).
    """
    mapped = _DIGIT.sub("d", _LOWER.sub("x", _UPPER.sub("X", word)))
    return re.sub(r"(.)\1+", r"\1", mapped)


def _word(word: str) -> Features:
    return {
        "lower": word.lower(),
        "shape": word_shape(word),
        "istitle": word.istitle(),
        "isupper": word.isupper(),
        "isdigit": word.isdigit(),
    }


def _own(word: str) -> Features:
    return {
        "bias": 1.0,
        **_word(word),
        "prefix2": word[:2],
        "prefix3": word[:3],
        "suffix2": word[-2:],
        "suffix3": word[-3:],
        "hasdigit": any(c.isdigit() for c in word),
        "hashyphen": "-" in word,
        "length": str(min(len(word), 8)),
    }


Gazetteer = Mapping[str, str]


def gazetteer_tags(words: Sequence[str], gazetteer: Gazetteer) -> list[str]:
    """BIO tags of the longest gazetteer phrases found in ``words`` (case-insensitive).

    ``gazetteer`` maps a phrase (words separated by spaces) to its label. Matching is
    greedy left to right, longest phrase first, so matches never overlap.
    """
    phrases = {tuple(p.lower().split()): label for p, label in gazetteer.items() if p.split()}
    longest = max((len(p) for p in phrases), default=0)
    lowered = [w.lower() for w in words]
    tags, i = ["O"] * len(words), 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            label = phrases.get(tuple(lowered[i : i + n]))
            if label is not None:
                tags[i : i + n] = [f"B-{label}"] + [f"I-{label}"] * (n - 1)
                i += n - 1
                break
        i += 1
    return tags


def sentence_token_features(
    words: Sequence[str], gazetteer: Gazetteer | None = None
) -> list[Features]:
    """One feature dict per token (python-crfsuite's input): itself and its neighbours."""
    gaz = gazetteer_tags(words, gazetteer) if gazetteer else None
    rows = []
    for i, word in enumerate(words):
        row = _own(word)
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < len(words):
                row.update({f"{offset}:{k}": v for k, v in _word(words[j]).items()})
            elif abs(offset) == 1:
                row["BOS" if offset < 0 else "EOS"] = True
        if gaz is not None and gaz[i] != "O":
            row["gazetteer"] = gaz[i]
        rows.append(row)
    return rows


def sentence_features(sentences: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """One L2-normalised row per sentence: the mean of its tokens' hashed features.

    Hashes each token's word, shape and suffix (``FeatureHasher``, stateless, so a pool
    can grow without refitting), averaged over the sentence: what the batch selectors'
    diversity and representativeness measure distances on.
    """
    hasher = FeatureHasher(n_features=SENTENCE_DIM, input_type="string", alternate_sign=False)
    tokens = [
        [f"w={w.lower()}", f"s={word_shape(w)}", f"x={w[-3:].lower()}"]
        for words in sentences
        for w in words
    ]
    lengths = np.array([len(words) for words in sentences], dtype=np.int64)
    token_rows = hasher.transform(tokens) if tokens else sp.csr_matrix((0, SENTENCE_DIM))
    owner = np.repeat(np.arange(len(sentences)), lengths)
    pooling = sp.csr_matrix(
        (1.0 / np.repeat(np.maximum(lengths, 1), lengths), (owner, np.arange(len(owner)))),
        shape=(len(sentences), len(owner)),
    )
    return sp.csr_matrix(normalize(pooling @ token_rows))
