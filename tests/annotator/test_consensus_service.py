"""Consensus written to items: per item at the last annotation, and for all items at retrain."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.models import ReviewDecision
from annotator.quality import gold as gold_marks
from annotator.quality import services as consensus_service
from projects.models import Annotation, Item, Project

pytestmark = pytest.mark.django_db

LABELS = ["a", "b", "c"]


@pytest.fixture
def crowd(make_user):  # type: ignore[no-untyped-def]
    return [make_user(f"crowd{i}") for i in range(5)]


def _project(method: str, **options: object) -> Project:
    return Project.objects.create(
        name="C",
        kind="text",
        labels=LABELS,
        strategy="entropy",
        selector="top",
        consensus_method=method,
        state="collecting",
        **options,
    )


def _item(project: Project, votes: list[tuple[str, int]], users, **fields: object) -> Item:  # type: ignore[no-untyped-def]
    item = Item.objects.create(
        project=project,
        text="x",
        state=str(fields.pop("state", "queued")),
        required=len(votes),
        annotation_count=len(votes),
        assigned=len(votes),
        **fields,
    )
    Annotation.objects.bulk_create(
        Annotation(project=project, item=item, annotator=user, label=label, confidence=conf)
        for user, (label, conf) in zip(users, votes, strict=False)
    )
    return item


def _finalise(project: Project, item: Item) -> Item:
    consensus_service.item_finalise(project=project, item=item)
    item.refresh_from_db()
    return item


def test_majority_labels_the_item_with_its_vote_share(crowd):  # type: ignore[no-untyped-def]
    project = _project("majority")
    item = _finalise(project, _item(project, [("a", 1), ("b", 5), ("a", 1)], crowd))
    assert (item.state, item.label, item.label_source) == ("labeled", "a", "consensus")
    assert item.consensus_support == pytest.approx(2 / 3)
    assert item.consensus_method == "majority"


def test_majority_tie_sends_the_item_to_review(crowd):  # type: ignore[no-untyped-def]
    project = _project("majority")
    item = _finalise(project, _item(project, [("a", 5), ("b", 1)], crowd))
    assert (item.state, item.label, item.label_source) == ("review", None, "")


def test_weighted_vote_follows_confidence_where_majority_does_not(crowd):  # type: ignore[no-untyped-def]
    votes = [("a", 5), ("a", 5), ("b", 1), ("b", 1), ("b", 1)]
    weighted = _project("weighted")
    assert _finalise(weighted, _item(weighted, votes, crowd)).label == "a"
    majority = _project("majority")
    assert _finalise(majority, _item(majority, votes, crowd)).label == "b"


def test_threshold_holds_back_weak_majorities(crowd):  # type: ignore[no-untyped-def]
    project = _project("majority", consensus_threshold=0.7)
    item = _finalise(project, _item(project, [("a", 3), ("a", 3), ("b", 3)], crowd))
    assert (item.state, item.label) == ("review", None)


def test_dawid_skene_gives_a_provisional_majority_per_item(crowd):  # type: ignore[no-untyped-def]
    project = _project("dawid_skene")
    item = _finalise(project, _item(project, [("c", 3), ("c", 3), ("b", 3)], crowd))
    assert (item.label, item.consensus_method) == ("c", "majority")


def test_reviewed_seed_and_gold_items_are_never_relabelled(crowd):  # type: ignore[no-untyped-def]
    project = _project("majority")
    reviewed = _item(
        project, [("a", 3), ("a", 3)], crowd, state="labeled", label="b", label_source="review"
    )
    ReviewDecision.objects.create(item=reviewed, reviewer=crowd[4], label="b")
    seed = _item(
        project, [("a", 3), ("a", 3)], crowd, state="labeled", label="c", label_source="seed"
    )
    gold = _item(project, [("a", 3), ("a", 3)], crowd, state="gold", gold_label="b")
    Item.objects.filter(pk=gold.pk).update(required=0)
    gold.refresh_from_db()
    for item in (reviewed, seed, gold):
        before = (item.state, item.label, item.label_source)
        after = _finalise(project, item)
        assert (after.state, after.label, after.label_source) == before
    assert consensus_service.consensus_recompute(project=project) == 0
    assert Item.objects.get(pk=reviewed.pk).label == "b"
    assert Item.objects.get(pk=seed.pk).label == "c"


def test_a_labelled_item_marked_gold_trains_on_the_leads_label(crowd):  # type: ignore[no-untyped-def]

    project = _project("majority")
    item = _finalise(project, _item(project, [("a", 3), ("a", 3)], crowd))
    assert (item.state, item.label, item.label_source) == ("labeled", "a", "consensus")
    result = gold_marks.gold_set(project=project, entries=[{"item": item.pk, "label": "b"}])
    assert result.updated == 1
    item.refresh_from_db()
    assert (item.label, item.label_source, item.gold_label) == ("b", "gold", "b")
    assert consensus_service.consensus_recompute(project=project) == 0
    assert Item.objects.get(pk=item.pk).label == "b"


def _simulated_crowd(project: Project, users, n_items: int = 150, seed: int = 3):  # type: ignore[no-untyped-def]
    """Three fair annotators (70-80% right), a spammer and an adversary (always true + 1)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_items)
    answers = []
    for accuracy in (0.7, 0.75, 0.8):
        wrong = (truth + rng.integers(1, 3, n_items)) % 3
        answers.append(np.where(rng.random(n_items) < accuracy, truth, wrong))
    answers.append(rng.integers(0, 3, n_items))
    answers.append((truth + 1) % 3)
    items = Item.objects.bulk_create(
        Item(project=project, text=f"t{i}", state="queued", required=5, annotation_count=5)
        for i in range(n_items)
    )
    Annotation.objects.bulk_create(
        Annotation(project=project, item=item, annotator=user, label=LABELS[int(given[i])])
        for user, given in zip(users, answers, strict=True)
        for i, item in enumerate(items)
    )
    for item in items:
        consensus_service.item_finalise(project=project, item=item)
    return {item.pk: LABELS[int(t)] for item, t in zip(items, truth, strict=True)}


def _accuracy(project: Project, truth: dict[int, str]) -> float:
    final = dict(Item.objects.filter(project=project).values_list("id", "label"))
    return float(np.mean([final[pk] == label for pk, label in truth.items()]))


def test_recompute_with_dawid_skene_beats_majority_on_a_crowd_with_a_spammer_and_adversary(  # type: ignore[no-untyped-def]
    crowd,
):
    project = _project("majority")
    truth = _simulated_crowd(project, crowd)
    majority = _accuracy(project, truth)
    project.consensus_method = "dawid_skene"
    project.save()
    changed = consensus_service.consensus_recompute(project=project)
    dawid_skene = _accuracy(project, truth)
    assert changed > 0
    assert dawid_skene >= majority + 0.1, (majority, dawid_skene)
    assert set(Item.objects.filter(project=project).values_list("consensus_method", flat=True)) == {
        "dawid_skene"
    }
    assert not Item.objects.filter(project=project, state="review").exists()


def test_recompute_skips_items_still_in_a_batch(crowd):  # type: ignore[no-untyped-def]
    project = _project("majority")
    waiting = _item(project, [("a", 3), ("a", 3)], crowd, state="queued")
    Item.objects.filter(pk=waiting.pk).update(required=3)
    consensus_service.consensus_recompute(project=project)
    waiting.refresh_from_db()
    assert (waiting.state, waiting.label) == ("queued", None)
