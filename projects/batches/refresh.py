"""A retrain's end: the last open batch gets the newest model's picks.

Picks are chosen before any lock (`refresh_prepare`); under the locks only rows
are written. Untouched items go back to the pool and the batch is topped up.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Max

from projects.batches.room import MAX_OPEN_BATCHES
from projects.batches.selection import (
    Prepared,
    batch_picks,
    coverage_picks,
    model_picks,
    needs_coverage,
)
from projects.batches.services import batch_add_items, batch_open, batches_lock
from projects.models import (
    Batch,
    Item,
    ModelVersion,
    Project,
    SelectionLog,
)
from projects.training.services import latest_model, retraining
from strategies.selection import SELECTORS


def batch_refresh(*, project: Project, prepared: Any = None) -> Batch | None:
    """Give the last open batch the newest model's picks: untouched items go back to the pool.

    Only the last: batches are handed out oldest first, so the earlier ones are being
    worked on and will be done soon; refreshing them too held the batches lock for the
    whole time, while annotators ran out of items waiting to open the next batch.

    `prepared`: picks chosen beforehand (`selection.refresh_prepare`); else the full
    selector runs here.
    """

    if not batches_lock(project, wait=False):
        return None  # an annotator is opening a batch: theirs first, the next retrain refreshes
    batch = batch_to_refresh(project)
    if batch is None:
        return batch_open_full(project=project, prepared=prepared)
    latest = latest_model(project)
    chosen_by = latest.pk if latest else None
    stale = batch.model_version_id != chosen_by or batch.kind == Batch.Kind.STALE
    # Unless a request is closing it: waiting here could deadlock with that request.
    if stale and _batch_lock_now(batch):
        batch_withdraw_untouched(batch=batch)
        batch_top_up(project=project, batch=batch, model_version=latest, prepared=prepared)
    return Batch.objects.filter(project=project, state=Batch.State.OPEN).first()


def _batch_lock_now(batch: Batch) -> bool:
    """Lock the batch row unless another transaction holds it (ours may, from `_finish`).

    A batch opened after `_finish` locked the open ones can be held by a request that
    closes it and then waits for the project row, which `_finish` holds.
    """
    held = (
        Batch.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .filter(pk=batch.pk, state=Batch.State.OPEN)
        .order_by()
        .values_list("pk", flat=True)
    )
    return bool(list(held))


def batch_refresh_unless_training(*, project: Project) -> None:
    """After an import: replace a quick (random) open batch with coverage picks.

    While a retrain is owed, its end refreshes the batch with model picks instead.
    """

    if retraining(project):
        return
    with transaction.atomic():
        batch_refresh(project=project)


def batch_to_refresh(project: Project) -> Batch | None:
    """The open batch a retrain refreshes: the last, which is handed out last."""
    return Batch.objects.filter(project=project, state=Batch.State.OPEN).order_by("-number").first()


def refresh_prepare(*, project: Project, latest: ModelVersion) -> Prepared:
    """What a retrain's refresh will put in the last open batch (or a new one), chosen now.

    That batch's untouched items compete too: the refresh sends them back.
    """
    batch = batch_to_refresh(project)
    k = project.batch_size
    untouched = (
        []
        if batch is None
        else list(
            Item.objects.filter(
                batch=batch, assigned=0, annotation_count=0, is_holdout=False
            ).values_list("id", flat=True)
        )
    )
    if needs_coverage(project, latest):
        return Prepared(coverage_picks(project, k, quick=False))
    return Prepared(model_picks(project, latest, k, quick=False, also=untouched))


def batch_open_full(*, project: Project, prepared: Prepared | None = None) -> Batch | None:
    """Open a batch with the full selector (in the worker)."""
    return batch_open(project=project, quick=False, prepared=prepared)


@transaction.atomic
def batch_withdraw_untouched(*, batch: Batch) -> int:
    """Send a batch's not-yet-started model picks back to the pool."""
    untouched = list(
        Item.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(batch=batch, assigned=0, annotation_count=0, is_holdout=False)
        .values_list("id", flat=True)
    )
    withdrawn = Item.objects.filter(pk__in=untouched, assigned=0, annotation_count=0).update(
        state=Item.State.POOL, batch=None, batch_rank=None, required=0
    )
    SelectionLog.objects.filter(batch=batch, item_id__in=untouched).update(withdrawn=True)
    Batch.objects.filter(pk=batch.pk).update(
        size=F("size") - withdrawn, remaining=F("remaining") - withdrawn
    )
    return withdrawn


@transaction.atomic
def batch_top_up(
    *,
    project: Project,
    batch: Batch,
    model_version: ModelVersion | None,
    prepared: Prepared | None = None,
) -> Batch:
    """Fill the open batch back to the batch size with the newest model's picks."""
    batch.refresh_from_db()
    has_holdout = Item.objects.filter(batch=batch, is_holdout=True).exists()
    k = project.batch_size - batch.size
    if k > 0:
        picks = batch_picks(
            project=project, k=k, quick=False, holdout=not has_holdout, prepared=prepared
        )
        last = SelectionLog.objects.filter(batch=batch).aggregate(r=Max("rank"))["r"]
        start = 0 if last is None else last + 1
        batch_add_items(project=project, batch=batch, picks=picks, start_rank=start)
        Batch.objects.filter(pk=batch.pk).update(
            kind=picks.kind,
            model_version=picks.model_version or model_version,
            strategy=picks.strategy,
        )
    batch.refresh_from_db()
    if batch.size == 0:
        batch.delete()
    return batch


# At least this many of each ranking's best items go to the item rows (`ranked_rows`);
# the whole ranking is in the version's file (`rankings`).
RANKED_ROWS_MIN = 2000


def ranked_rows(project: Project) -> int:
    """How many of a ranking's best items a retrain writes to the item rows.

    The refresh's full selector shortlists `batch size × shortlist factor` items for
    each of up to MAX_OPEN_BATCHES batches; four times that leaves room for the
    batches annotators open from this ranking before the next retrain lands.
    """
    preset = SELECTORS.get(project.selector)
    factor = max(preset.options.shortlist_factor, 1) if preset else 1
    return max(RANKED_ROWS_MIN, 4 * project.batch_size * MAX_OPEN_BATCHES * factor)


class RetrainHooks:
    """The batches' side of a retrain (`training.run.BatchHooks`)."""

    def ranked_rows(self, project: Project) -> int:
        return ranked_rows(project)

    def prepare(self, project: Project, latest: ModelVersion) -> Prepared:
        return refresh_prepare(project=project, latest=latest)

    def refresh(self, project: Project, prepared: Prepared) -> None:
        batch_refresh(project=project, prepared=prepared)


RETRAIN_HOOKS = RetrainHooks()
