"""The vectorised forward-backward and Viterbi give what crfsuite's tagger gives."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.spans.crf import train_span_model
from strategies.spans.inference import compile_crf, predict_padded
from strategies.spans.query import path_indices
from strategies.spans.simulate import tagged
from tests.strategies.spans_corpus import synthetic_corpus


@pytest.fixture(scope="module")
def trained() -> tuple[object, list[list[str]]]:
    words, tags = tagged(synthetic_corpus(60, seed=3))
    # "ORG" has no example: its tags are columns the CRF never predicts.
    model = train_span_model(words[:25], tags[:25], ["PER", "LOC", "ORG"], max_iterations=30)
    pool = [*words[25:], [], ["Unseen", "words", "only"], ["x"], [w for s in words[:3] for w in s]]
    return model, pool


def test_marginals_paths_and_probabilities_match_the_tagger(trained) -> None:
    model, pool = trained
    want = model.predict_sequences(pool)
    got = predict_padded(model, pool)
    assert got.tags == want.tags
    assert got.paths == want.paths
    np.testing.assert_array_equal(got.columns, path_indices(want))
    np.testing.assert_array_equal(got.mask, want.mask)
    # crfsuite reports its weights to six significant digits, hence the tolerance.
    np.testing.assert_allclose(got.marginals, want.marginals, atol=1e-5)
    np.testing.assert_allclose(got.path_proba, want.path_proba, atol=1e-5)


def test_marginals_are_distributions_on_real_tokens_only(trained) -> None:
    model, pool = trained
    got = predict_padded(model, pool)
    sums = got.marginals.sum(axis=2)
    np.testing.assert_allclose(sums[got.mask], 1.0, atol=1e-9)
    assert (sums[~got.mask] == 0).all()
    org = [k for k, tag in enumerate(got.tags) if tag.endswith("ORG")]
    assert (got.marginals[:, :, org] == 0).all()
    assert got.paths[len(pool) - 4] == [] and got.path_proba[len(pool) - 4] == 1.0


def test_a_compiled_model_is_reused_and_an_empty_pool_works(trained) -> None:
    model, pool = trained
    compiled = compile_crf(model)
    once = predict_padded(model, pool[:5], compiled)
    again = predict_padded(model, pool[:5], compiled)
    np.testing.assert_array_equal(once.marginals, again.marginals)
    empty = predict_padded(model, [], compiled)
    assert empty.paths == [] and empty.marginals.shape[0] == 0
