"""Sequence strategies on hand-checked arrays; every one yields a valid batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.query import STRATEGIES
from strategies.selection import SELECTORS, select_batch
from strategies.spans.crf import SequencePrediction, tag_set
from strategies.spans.query import (
    SEQUENCE_STRATEGIES,
    SequenceContext,
    mnlp_scores,
    path_indices,
    score_sequences,
    sequence_least_confidence_scores,
    sequence_vote_entropy_scores,
    token_entropy_mean_scores,
    token_entropy_sum_scores,
)
from strategies.tasks import TASKS, selector_fits, strategies_for_task, strategy_fits

LN2 = np.log(2.0)


def test_least_confidence_of_the_viterbi_path() -> None:
    assert sequence_least_confidence_scores(np.array([0.5, 0.9, 1.0])) == pytest.approx(
        [0.5, 0.1, 0.0]
    )


def test_mnlp_divides_the_path_log_probability_by_the_length() -> None:
    scores = mnlp_scores(np.array([0.25, 0.9, 1.0, 0.5]), np.array([2, 1, 3, 0]))
    assert scores == pytest.approx([np.log(4) / 2, -np.log(0.9), 0.0, 0.0])


def test_mnlp_ranks_a_long_confident_sentence_below_a_short_unsure_one() -> None:
    # 20 tokens at 0.95 each: path probability 0.36; 2 tokens at 0.6 each: 0.36 too
    long_sure, short_unsure = 0.95**20, 0.6**2
    lc = sequence_least_confidence_scores(np.array([long_sure, short_unsure]))
    mnlp = mnlp_scores(np.array([long_sure, short_unsure]), np.array([20, 2]))
    assert lc[0] > lc[1] and mnlp[1] > mnlp[0]


def _marginals() -> tuple[np.ndarray, np.ndarray]:
    marginals = np.zeros((2, 3, 3))
    marginals[0] = [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]  # 2 tokens
    marginals[1] = [[1 / 3] * 3, [0.5, 0.0, 0.5], [0.25, 0.25, 0.5]]
    mask = np.array([[True, True, False], [True, True, True]])
    return marginals, mask


def test_token_entropy_sum_and_mean() -> None:
    marginals, mask = _marginals()
    h_last = -(0.5 * np.log(0.25) + 0.5 * np.log(0.5))
    total = np.array([LN2, np.log(3) + LN2 + h_last])
    assert token_entropy_sum_scores(marginals, mask) == pytest.approx(total)
    assert token_entropy_mean_scores(marginals, mask) == pytest.approx(total / [2, 3])


def test_padding_never_adds_entropy() -> None:
    marginals, mask = _marginals()
    marginals[0, 2] = [1 / 3] * 3  # garbage on the padding
    assert token_entropy_sum_scores(marginals, mask)[0] == pytest.approx(LN2)


def test_vote_entropy_averages_disagreement_over_tokens() -> None:
    votes = np.array([[[0, 1, -1], [2, 2, 2]], [[0, 2, -1], [2, 2, 2]]])
    assert sequence_vote_entropy_scores(votes, 3) == pytest.approx([LN2 / 2, 0.0])


def _prediction(paths: list[list[str]], tags: tuple[str, ...]) -> SequencePrediction:
    width = max(len(p) for p in paths)
    mask = np.array([[t < len(p) for t in range(width)] for p in paths])
    marginals = np.zeros((len(paths), width, len(tags)))
    marginals[..., 0] = mask
    return SequencePrediction(tags, paths, np.ones(len(paths)), marginals, mask)


def test_paths_become_tag_columns_padded_with_minus_one() -> None:
    tags = tag_set(["PER"])
    pred = _prediction([["B-PER", "I-PER"], ["O"]], tags)
    assert path_indices(pred).tolist() == [[1, 2], [0, -1]]


@st.composite
def pools(draw: st.DrawFn) -> tuple[SequenceContext, int, int]:
    n = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    tags = tag_set(["PER", "LOC"])
    lengths = rng.integers(0, 9, size=n)
    width = max(1, int(lengths.max()))
    mask = np.arange(width)[None, :] < lengths[:, None]

    def view() -> SequencePrediction:
        marginals = rng.dirichlet(np.ones(len(tags)), size=(n, width)) * mask[..., None]
        paths = [[tags[k] for k in marginals[i, : lengths[i]].argmax(axis=1)] for i in range(n)]
        return SequencePrediction(tags, paths, rng.random(n), marginals, mask)

    ctx = SequenceContext(n, view(), [view(), view(), view()], random_state=seed)
    return ctx, draw(st.integers(1, 30)), seed


@settings(max_examples=40, deadline=None)
@given(pools(), st.sampled_from(sorted(SEQUENCE_STRATEGIES)), st.sampled_from(["top_k", "kcenter"]))
def test_every_sequence_strategy_yields_a_valid_duplicate_free_batch(
    pool: tuple[SequenceContext, int, int], name: str, selector: str
) -> None:
    ctx, k, seed = pool
    scores = score_sequences(name, ctx)
    assert scores.shape == (ctx.n_pool,) and np.isfinite(scores).all()
    X = np.random.default_rng(seed).random((ctx.n_pool, 4))
    picked = select_batch(scores, X, k, options=SELECTORS[selector].options, random_state=seed)
    assert len(picked.indices) == min(k, ctx.n_pool)
    assert len(set(picked.indices.tolist())) == len(picked.indices)
    assert ((picked.indices >= 0) & (picked.indices < ctx.n_pool)).all()


def test_the_same_seed_gives_the_same_random_order() -> None:
    a = score_sequences("random", SequenceContext(50, random_state=3))
    assert (a == score_sequences("random", SequenceContext(50, random_state=3))).all()
    assert not (a == score_sequences("random", SequenceContext(50, random_state=4))).all()


def test_a_committee_strategy_without_a_committee_is_refused() -> None:
    with pytest.raises(ValueError, match="committee"):
        score_sequences("sequence_vote_entropy", SequenceContext(3))


def test_a_prediction_of_another_pool_is_refused() -> None:
    pred = _prediction([["O"], ["O"]], tag_set(["PER"]))
    with pytest.raises(ValueError, match="covers 2"):
        score_sequences("mnlp", SequenceContext(3, pred))


def test_unknown_sequence_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        score_sequences("margin", SequenceContext(3))


def test_span_projects_get_sequence_strategies_only() -> None:
    spans = strategies_for_task("spans")
    assert set(spans) == set(SEQUENCE_STRATEGIES)
    assert "mnlp" in spans and "margin" not in spans
    assert strategy_fits("random", "spans") and not strategy_fits("entropy", "spans")


def test_classification_tasks_keep_their_strategies() -> None:
    single, multi = strategies_for_task("single"), strategies_for_task("multilabel")
    assert set(single) == {n for n, i in STRATEGIES.items() if not i.multilabel}
    assert set(multi) == {n for n, i in STRATEGIES.items() if i.multilabel}
    assert not set(single) & set(SEQUENCE_STRATEGIES) - {"random"}
    assert TASKS == ("single", "multilabel", "spans")
    with pytest.raises(ValueError):
        strategies_for_task("regression")


def test_span_projects_take_no_selector_that_needs_class_probabilities() -> None:
    assert selector_fits("balanced", "single") and selector_fits("balanced", "multilabel")
    assert not selector_fits("balanced", "spans")
    assert {name for name in SELECTORS if selector_fits(name, "spans")} == set(SELECTORS) - {
        "balanced"
    }
    assert not selector_fits("nonesuch", "single")
    with pytest.raises(ValueError):
        selector_fits("top_k", "pictures")
