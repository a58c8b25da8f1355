"""Stream mode: query-or-not for one item at a time under a labelling budget.

Žliobaitė, Bifet, Pfahringer & Holmes (2014), "Active Learning With Drifting Streaming
Data", IEEE TNNLS 25(1): the *randomized variable uncertainty* strategy. The threshold
``theta`` on the top posterior ``max_y P(y|x)`` shrinks after a query and grows after a
skip, so the query rate follows the budget even when the model's confidence drifts;
``theta`` is multiplied by ``eta ~ N(1, delta)`` for each decision so that confident
items are sometimes queried too. Their *Split* strategy adds a share of purely random
queries (``random_share``) for an unbiased view of drift.

The rule reads one confidence in ``[0, 1]`` per item. A single-label model's is its top
posterior; the other task kinds map their own uncertainty onto the same scale
(``multilabel_confidence``, ``sequence_confidence``), so the budget and threshold rules
are the same for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from strategies.query import multilabel_margin_scores
from strategies.spans.query import mnlp_scores


@dataclass
class StreamState:
    """Threshold and counters of one project's stream; JSON via ``to_dict``/``from_dict``."""

    threshold: float = 1.0
    seen: int = 0
    queried: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "seen": self.seen, "queried": self.queried}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StreamState:
        return cls(
            threshold=float(d.get("threshold", 1.0)),
            seen=int(d.get("seen", 0)),
            queried=int(d.get("queried", 0)),
        )

    @property
    def query_rate(self) -> float:
        return self.queried / self.seen if self.seen else 0.0


def multilabel_confidence(proba: np.ndarray) -> np.ndarray:
    """The confidence of the least sure label decision of a one-vs-rest model,
    ``min_j max(p_j, 1 - p_j) = 1 - m/2`` where ``m`` is the multi-label margin score
    (``query.multilabel_margin_scores``): in ``[0.5, 1]``, as a binary model's top
    posterior is. ``proba``: ``(n, L)`` per-label positive probabilities."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError("proba must be (items, labels)")
    if not p.shape[1]:
        return np.ones(len(p))
    return 1.0 - multilabel_margin_scores(p) / 2.0


def sequence_confidence(path_proba: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A CRF's per-token confidence in its Viterbi path, ``P(y*|x)^(1/n) = exp(-MNLP)``
    (Shen et al. 2018): the length-normalised path probability, in ``(0, 1]``, so that
    a long sentence is not queried merely for being long; 1 for an empty one."""
    return np.exp(-mnlp_scores(path_proba, lengths))


def _check(budget: float, step: float, random_share: float) -> None:
    if not 0.0 <= budget <= 1.0:
        raise ValueError("budget must be a fraction in [0, 1]")
    if not 0.0 < step < 1.0:
        raise ValueError("step must be in (0, 1)")
    if not 0.0 <= random_share <= 1.0:
        raise ValueError("random_share must be in [0, 1]")


def stream_decide(
    state: StreamState,
    max_proba: float,
    *,
    budget: float,
    rng: np.random.Generator,
    step: float = 0.01,
    random_share: float = 0.1,
    delta: float = 1.0,
) -> tuple[bool, StreamState]:
    """Decide whether to ask a human about one arriving item; return (query, new state).

    If the labelling expense ``queried / seen`` (this item counted) has reached
    ``budget``, do not query.
    Otherwise, with probability ``random_share`` query at random; else query iff
    ``max_proba < theta * eta`` (``eta ~ N(1, delta)``), then ``theta <- theta (1 - step)``;
    on a skip ``theta <- theta (1 + step)``.
    """
    _check(budget, step, random_share)
    if not 0.0 <= max_proba <= 1.0:
        raise ValueError("max_proba must be a probability")
    seen = state.seen + 1
    if state.queried / seen >= budget:
        return False, StreamState(state.threshold, seen, state.queried)
    u, eta = rng.random(), rng.normal(1.0, delta)
    if u < random_share:
        return True, StreamState(state.threshold, seen, state.queried + 1)
    if max_proba < state.threshold * eta:
        return True, StreamState(state.threshold * (1.0 - step), seen, state.queried + 1)
    return False, StreamState(state.threshold * (1.0 + step), seen, state.queried)


def simulate_stream(
    max_proba: np.ndarray,
    *,
    budget: float,
    random_state: int | None = None,
    step: float = 0.01,
    random_share: float = 0.1,
    delta: float = 1.0,
) -> np.ndarray:
    """Run ``stream_decide`` over a whole stream; returns the boolean query mask.

    The random draws are made in one vectorised call; the threshold recursion is
    inherently sequential (each decision moves it), so it is one tight loop.
    """
    _check(budget, step, random_share)
    p = np.asarray(max_proba, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    u, eta = rng.random(len(p)), rng.normal(1.0, delta, size=len(p))
    query = np.zeros(len(p), dtype=bool)
    theta, queried = 1.0, 0
    for t in range(len(p)):
        if queried / (t + 1) >= budget:
            continue
        if u[t] < random_share:
            query[t] = True
        elif p[t] < theta * eta[t]:
            query[t], theta = True, theta * (1.0 - step)
        else:
            theta *= 1.0 + step
        queried += int(query[t])
    return query
