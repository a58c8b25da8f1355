"""Span projects' quality: token-vote consensus, agreement (span F1 and token alpha) and
the review queue, against values worked out by hand."""

from __future__ import annotations

import pytest

from annotator.quality import services as consensus_service
from projects.models import Item
from tests.spans.helpers import TEXT, annotated, span, span_project

pytestmark = pytest.mark.django_db

ALICE, BOB, PARIS = span(0, 5, "PER"), span(10, 13, "PER"), span(17, 22, "LOC")


@pytest.fixture
def project(api):  # type: ignore[no-untyped-def]
    return span_project(api)


def _decided(project, answers):  # type: ignore[no-untyped-def]
    item = annotated(project, TEXT, answers)
    consensus_service.item_finalise(project=project, item=item)
    item.refresh_from_db()
    return item


def test_each_token_takes_the_majority_tag(users, project):  # type: ignore[no-untyped-def]
    # Alice: PER 3-0; Bob: O 2-1; Paris: LOC 2-1. The weakest token has 2 of 3 votes.
    item = _decided(
        project,
        [
            (users["ann1"], [ALICE, PARIS], 3),
            (users["ann2"], [ALICE, BOB], 3),
            (users["lead"], [ALICE, PARIS], 3),
        ],
    )
    assert (item.state, item.spans, item.label_source) == ("labeled", [ALICE, PARIS], "consensus")
    assert item.consensus_support == pytest.approx(2 / 3)
    assert (item.label, item.labels, item.consensus_method) == (None, None, "majority")


def test_weighted_consensus_counts_confidence(users, project):  # type: ignore[no-untyped-def]
    project.consensus_method = "weighted"
    project.save(update_fields=["consensus_method"])
    # Bob: PER 5 against O 1+1; Paris: O 5 against LOC 1+1. Weakest share 5/7.
    item = _decided(
        project,
        [
            (users["ann1"], [ALICE, PARIS], 1),
            (users["ann2"], [ALICE, BOB], 5),
            (users["lead"], [ALICE, PARIS], 1),
        ],
    )
    assert (item.state, item.spans) == ("labeled", [ALICE, BOB])
    assert item.consensus_support == pytest.approx(5 / 7)


def test_a_tied_token_sends_the_item_to_review(users, project):  # type: ignore[no-untyped-def]
    item = _decided(project, [(users["ann1"], [ALICE], 3), (users["ann2"], [], 3)])
    assert (item.state, item.spans, item.label_source) == ("review", None, "")
    assert item.consensus_support == pytest.approx(0.5)


def test_a_weak_majority_below_the_threshold_goes_to_review(users, project):  # type: ignore[no-untyped-def]
    project.consensus_threshold = 0.7
    project.save(update_fields=["consensus_threshold"])
    answers = [
        (users["ann1"], [ALICE, PARIS], 3),
        (users["ann2"], [ALICE, BOB], 3),
        (users["lead"], [ALICE, PARIS], 3),
    ]
    assert _decided(project, answers).state == "review"


def test_boundaries_that_differ_split_the_vote_per_token(users, project):  # type: ignore[no-untyped-def]
    text = "Bob lives in New York"
    new_york, york = span(13, 21, "LOC"), span(17, 21, "LOC")
    item = annotated(
        project,
        text,
        [
            (users["ann1"], [new_york], 3),
            (users["ann2"], [york], 3),
            (users["lead"], [new_york], 3),
        ],
    )
    consensus_service.item_finalise(project=project, item=item)
    item.refresh_from_db()
    # New: B-LOC 2, O 1; York: I-LOC 2, B-LOC 1.
    assert item.spans == [new_york]


def test_recompute_applies_a_changed_method_to_old_items(users, project):  # type: ignore[no-untyped-def]
    answers = [
        (users["ann1"], [ALICE, PARIS], 1),
        (users["ann2"], [ALICE, BOB], 5),
        (users["lead"], [ALICE, PARIS], 1),
    ]
    item = _decided(project, answers)
    assert item.spans == [ALICE, PARIS]
    project.consensus_method = "weighted"
    project.save(update_fields=["consensus_method"])
    assert consensus_service.consensus_recompute(project=project) == 1
    item.refresh_from_db()
    assert (item.spans, item.consensus_method) == ([ALICE, BOB], "weighted")
    assert consensus_service.consensus_recompute(project=project) == 0


def test_agreement_gives_span_f1_per_pair_and_token_alpha(api, users, project):  # type: ignore[no-untyped-def]
    crowd = (users["ann1"], users["ann2"])
    annotated(
        project, TEXT, [(crowd[0], [ALICE, PARIS], 3), (crowd[1], [ALICE, span(17, 22, "PER")], 3)]
    )
    text = "Bob lives in New York"
    annotated(
        project,
        text,
        [(crowd[0], [span(0, 3, "PER"), span(13, 21, "LOC")], 3),
         (crowd[1], [span(0, 3, "PER"), span(17, 21, "LOC")], 3)],
    )  # fmt: skip
    body = api["reviewer"].get(f"/api/projects/{project.pk}/agreement/").json()
    assert (body["items"], body["annotations"], body["annotators"]) == (2, 4, 2)
    assert body["fleiss_kappa"] is None and body["unit"] == "token"
    [pair] = body["pairs"]
    assert (pair["a"], pair["b"], pair["n"], pair["cohen_kappa"]) == ("ann1", "ann2", 2, None)
    # 2 of 4 spans each are equal: 2 * 2 / 8. Partial (labels ignored, overlap = half):
    # 3 correct + 1 partial of 4 -> 3.5 / 4. Overlap with the same label: Paris is PER
    # against LOC, the rest match -> 3 / 4.
    assert pair["exact_f1"] == pytest.approx(0.5)
    assert pair["partial_f1"] == pytest.approx(0.875)
    assert pair["overlap_f1"] == pytest.approx(0.75)
    # 10 tokens, 2 coders. Coincidences: O-O 10, PER-PER 4, LOC-LOC 2, LOC/PER 1+1,
    # LOC/O 1+1; n_O 11, n_LOC 4, n_PER 5, n 20. alpha = 1 - 19 * 4 / (400 - 162).
    assert body["krippendorff_alpha"] == pytest.approx(1 - 19 * 4 / 238)


def test_agreement_figures_are_null_with_too_few_shared_items(api, users, project):  # type: ignore[no-untyped-def]
    annotated(project, TEXT, [(users["ann1"], [ALICE], 3), (users["ann2"], [ALICE], 3)])
    body = api["lead"].get(f"/api/projects/{project.pk}/agreement/").json()
    assert body["items"] == 1 and body["krippendorff_alpha"] is None
    assert body["pairs"][0]["exact_f1"] is None


def test_an_annotator_may_not_read_agreement_and_an_outsider_gets_404(api, project):  # type: ignore[no-untyped-def]
    assert api["ann1"].get(f"/api/projects/{project.pk}/agreement/").status_code == 403
    assert api["outsider"].get(f"/api/projects/{project.pk}/agreement/").status_code == 404


def test_review_shows_each_annotators_spans_and_takes_the_final_spans(api, users, project):  # type: ignore[no-untyped-def]
    item = _decided(project, [(users["ann1"], [ALICE, PARIS], 3), (users["ann2"], [ALICE], 2)])
    assert item.state == "review"
    url = f"/api/projects/{project.pk}/review/"
    queue = api["reviewer"].get(url).json()
    entry = next(e for e in queue if e["item"] == item.pk)
    assert entry["text"] == TEXT
    assert {a["annotator"]: a["spans"] for a in entry["annotations"]} == {
        "ann1": [ALICE, PARIS],
        "ann2": [ALICE],
    }
    assert entry["votes"] == {"PER": 2, "LOC": 1}
    for bad in (
        {"item": item.pk, "label": "PER"},
        {"item": item.pk, "label": "PER", "spans": []},
        {"item": item.pk, "spans": [span(0, 5, "DATE")]},
        {"item": item.pk, "spans": [span(0, 5, "PER"), span(2, 9, "LOC")]},
        {"item": item.pk, "spans": [span(0, 99, "PER")]},
        {"item": item.pk, "spans": "PER"},
    ):
        refused = api["reviewer"].post(url, bad, format="json")
        assert refused.status_code == 400, (bad, refused.content)
    body = {"item": item.pk, "spans": [span(18, 20, "LOC"), span(1, 3, "PER")]}
    decided = api["reviewer"].post(url, body, format="json")
    assert decided.status_code == 201, decided.content
    assert decided.json()["spans"] == [ALICE, PARIS]
    assert api["reviewer"].post(url, body, format="json").status_code == 200
    other = api["reviewer"].post(url, {"item": item.pk, "spans": []}, format="json")
    assert other.status_code == 409
    item.refresh_from_db()
    assert (item.state, item.spans, item.label_source, item.label) == (
        "labeled", [ALICE, PARIS], "review", None
    )  # fmt: skip
    assert item.review.spans == [ALICE, PARIS]


def test_an_annotator_cannot_review(api, users, project):  # type: ignore[no-untyped-def]
    item = _decided(project, [(users["ann1"], [ALICE], 3), (users["ann2"], [], 3)])
    response = api["ann1"].post(
        f"/api/projects/{project.pk}/review/", {"item": item.pk, "spans": []}, format="json"
    )
    assert response.status_code == 403
    assert Item.objects.get(pk=item.pk).state == "review"


def test_annotator_stats_count_span_annotations_and_agreement_with_the_final_spans(
    api, users, project
):  # type: ignore[no-untyped-def]
    crowd = [users["ann1"], users["ann2"], users["lead"]]
    # Consensus [Alice, Paris]: ann1 and lead said exactly that, ann2 did not.
    _decided(
        project,
        list(zip(crowd, [[ALICE, PARIS], [ALICE, BOB], [ALICE, PARIS]], [3] * 3, strict=True)),
    )
    # Reviewed to [Alice]: ann1 said it, ann2 said nothing.
    reviewed = _decided(project, [(users["ann1"], [ALICE], 3), (users["ann2"], [], 3)])
    url = f"/api/projects/{project.pk}/review/"
    api["reviewer"].post(url, {"item": reviewed.pk, "spans": [ALICE]}, format="json")
    rows = {
        r["annotator"]: r for r in api["lead"].get(f"/api/projects/{project.pk}/annotators/").json()
    }
    assert (rows["ann1"]["items"], rows["ann1"]["consensus_items"]) == (2, 2)
    assert rows["ann1"]["consensus_agreement"] == pytest.approx(1.0)
    assert rows["ann2"]["consensus_agreement"] == pytest.approx(0.0)
    assert rows["lead"]["consensus_agreement"] == pytest.approx(1.0)
    assert rows["reviewer"]["items"] == 0
    own = api["ann2"].get(f"/api/projects/{project.pk}/annotators/").json()
    assert [r["annotator"] for r in own] == ["ann2"] and own[0]["items"] == 2
