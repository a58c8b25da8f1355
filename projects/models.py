"""Projects, membership, items, batches, model versions and the selection log."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.ddl_references import Statement
from django.db.models import F, OrderBy, Q

from projects.settings_schema import SETTING


def _default(name: str) -> Any:
    """A setting's default, from the settings schema (its one home)."""
    return SETTING[name].default


# An item has a final label: a single label, or a multi-label set (which may be empty).
HAS_FINAL_LABEL = Q(label__isnull=False) | Q(labels__isnull=False) | Q(spans__isnull=False)
# A gold item: the lead gave its true label, set or spans (whichever the task takes).
IS_GOLD = Q(gold_label__isnull=False) | Q(gold_labels__isnull=False) | Q(gold_spans__isnull=False)


class Project(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"
        VECTOR = "vector"

    class State(models.TextChoices):
        SETUP = "setup"
        COLLECTING = "collecting"
        TRAINING = "training"
        STOPPED = "stopped"
        ARCHIVED = "archived"

    class Task(models.TextChoices):
        """What one annotation is (`settings_types.Task`); fixed when the project is made."""

        SINGLE = "single"
        MULTILABEL = "multilabel"
        SPANS = "spans"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    task = models.CharField(max_length=10, choices=Task.choices, default=Task.SINGLE)
    labels = models.JSONField(default=list, help_text="Label names, in key order.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.SETUP)
    batch_size = models.PositiveIntegerField(default=_default("batch_size"))
    strategy = models.CharField(max_length=40)
    selector = models.CharField(max_length=40)
    overlap = models.PositiveSmallIntegerField(default=_default("overlap"))
    agreement_fraction = models.FloatField(default=_default("agreement_fraction"))
    agreement_overlap = models.PositiveSmallIntegerField(default=_default("agreement_overlap"))
    consensus_method = models.CharField(max_length=20, default=_default("consensus_method"))
    consensus_threshold = models.FloatField(
        default=_default("consensus_threshold"),
        help_text="Least vote share (or posterior) a consensus label needs.",
    )
    gold_fraction = models.FloatField(
        default=_default("gold_fraction"),
        help_text="Share of hand-outs that are gold items, mixed in unannounced.",
    )
    holdout_fraction = models.FloatField(
        default=_default("holdout_fraction"),
        help_text="Share of each batch drawn at random for evaluation.",
    )
    holdout_target = models.PositiveIntegerField(
        default=_default("holdout_target"),
        help_text="Stop adding holdout items once this many exist.",
    )
    seed_per_class = models.PositiveSmallIntegerField(
        default=_default("seed_per_class"),
        help_text="Coverage batches until every label has this many examples.",
    )
    stopping = models.JSONField(default=list, blank=True)
    stop_reason = models.TextField(blank=True)
    stream_budget = models.FloatField(null=True, blank=True)
    default_confidence = models.PositiveSmallIntegerField(default=_default("default_confidence"))
    show_suggestion = models.BooleanField(default=False)
    allow_empty_set = models.BooleanField(default=_default("allow_empty_set"))
    meta_fields = models.JSONField(default=list, blank=True)
    guidelines = models.TextField(blank=True, default="")
    label_options = models.JSONField(
        default=dict, blank=True, help_text="{label: {key, description}}; see label_keys."
    )
    estimator = models.CharField(max_length=60, default=_default("estimator"))
    estimator_params = models.JSONField(default=dict, blank=True)
    hyperparameter_search = models.CharField(
        max_length=10, default=_default("hyperparameter_search")
    )
    embedder = models.CharField(max_length=60, default=_default("embedder"))
    stream_state = models.JSONField(default=dict, blank=True)
    random_state = models.PositiveIntegerField(default=0)
    # Inserts of items whose search words are not written yet (`item_search`), the
    # smallest id they may have, and since when: while owed, a search also reads the text
    # of the items from there on that have no words.
    words_owed = models.PositiveIntegerField(default=0)
    words_from = models.BigIntegerField(null=True, blank=True)
    words_since = models.DateTimeField(null=True, blank=True)  # the first debt's time
    stop_set = models.JSONField(
        default=list, blank=True, help_text="Fixed item ids for stabilizing predictions."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        LEAD = "lead"
        REVIEWER = "reviewer"
        ANNOTATOR = "annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.project}"


class Batch(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    class Kind(models.TextChoices):
        COVERAGE = "coverage", "cold-start coverage"
        MODEL = "model", "model ranking"
        STALE = "stale", "previous ranking while retraining"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    model_version = models.ForeignKey(
        "ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    strategy = models.CharField(max_length=40)
    selector = models.CharField(max_length=40)
    size = models.PositiveIntegerField(default=0)
    remaining = models.IntegerField(
        default=0, help_text="Items still holding the batch open (closing.WAITING)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="batch_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.project} batch {self.number}"


class NullsLastIndex(models.Index):
    """An expression index whose `DESC NULLS LAST` columns SQLite gets as plain `DESC`.

    SQLite refuses NULLS LAST in CREATE INDEX, and its DESC puts NULLs last anyway.
    """

    def create_sql(
        self,
        model: type[models.Model],
        schema_editor: BaseDatabaseSchemaEditor,
        using: str = "",
        **kwargs: Any,
    ) -> Statement:
        if schema_editor.connection.vendor != "sqlite":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = [
            OrderBy(e.expression, descending=e.descending) if isinstance(e, OrderBy) else e
            for e in self.expressions
        ]
        index = models.Index(*plain, name=self.name, condition=self.condition)
        return index.create_sql(model, schema_editor, using=using, **kwargs)


# The ranking order of pool items (`selection._model_picks`): best score first, unscored
# items (fresh imports, items out of the newest ranking's top) last, ties by id.
RANKING_ORDER = (F("score").desc(nulls_last=True), "id")


class Item(models.Model):
    class State(models.TextChoices):
        POOL = "pool", "unlabeled pool"
        QUEUED = "queued", "in a batch"
        LABELED = "labeled"
        REVIEW = "review", "waiting for review"
        PREDICTED = "predicted", "stream item left to the model"
        GOLD = "gold", "gold item (quality check, not trained on)"
        # Taken out of the pool by the lead: never picked for a batch, so never handed out.
        EXCLUDED = "excluded", "excluded from the pool by the lead"

    class LabelSource(models.TextChoices):
        NONE = ""
        SEED = "seed", "imported"
        CONSENSUS = "consensus"
        REVIEW = "review"
        GOLD = "gold", "gold (the lead's true label)"
        # The lead set the label (relabel) or sent the item to review; consensus keeps off.
        LEAD = "lead", "the lead's decision"

    # No single-column indexes on project / batch: the composite indexes below start with
    # them, and every index slows the bulk COPY of an import. No foreign key constraint
    # in the database either: PostgreSQL checks one row by row, 4 s of a 1M-row import's
    # 12. The inserts hold the project row instead (`ingest.bulk.projects_hold`) and a
    # deletion locks it first (`services.project_remove`): no item outlives its project.
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="items",
        db_index=False,
        db_constraint=False,
    )
    text = models.TextField(blank=True)
    image = models.CharField(max_length=300, blank=True, help_text="Path under MEDIA_ROOT.")
    meta = models.JSONField(default=dict, blank=True)
    vector = models.JSONField(null=True, blank=True, help_text="User features (vector projects).")
    state = models.CharField(max_length=10, choices=State.choices, default=State.POOL)
    label = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL: no label
    # A multi-label project's final set (label names in the project's order; [] is a
    # set too); NULL where there is none, and always on single-label projects.
    labels = models.JSONField(null=True, blank=True)
    # A span project's final spans ([{"start", "end", "label"}], character offsets into
    # `text`, sorted, no overlaps; [] is an answer too); NULL where there is none.
    spans = models.JSONField(null=True, blank=True)
    label_source = models.CharField(max_length=10, choices=LabelSource.choices, blank=True)
    gold_label = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL: no label
    # A multi-label project's gold set (the lead's true set, in the project's order);
    # NULL where the item is not gold, and always on single-label projects.
    gold_labels = models.JSONField(null=True, blank=True)
    # A span project's gold spans (the lead's true spans, stored as `spans` is; [] is an
    # answer too); NULL where the item is not gold, and always on other projects.
    gold_spans = models.JSONField(null=True, blank=True)
    consensus_method = models.CharField(max_length=20, blank=True)
    consensus_support = models.FloatField(
        null=True, blank=True, help_text="Winning vote share, or Dawid-Skene posterior."
    )
    is_holdout = models.BooleanField(default=False)
    from_stream = models.BooleanField(default=False)
    batch = models.ForeignKey(
        Batch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        db_index=False,
    )
    batch_rank = models.PositiveIntegerField(null=True, blank=True)
    required = models.PositiveSmallIntegerField(default=0)
    assigned = models.PositiveSmallIntegerField(
        default=0, help_text="Live leases plus annotations: the claim condition lives on this row."
    )
    annotation_count = models.PositiveSmallIntegerField(default=0)
    skips = models.PositiveSmallIntegerField(
        default=0, help_text="How many annotators gave the item back: it no longer holds a batch."
    )
    score = models.FloatField(null=True, blank=True)
    prediction = models.SmallIntegerField(null=True, blank=True)
    # The whole answer of the model that wrote `prediction` (`training.predicted`): its
    # set on multi-label projects, its spans on span projects; NULL elsewhere.
    predicted_labels = models.JSONField(null=True, blank=True)
    predicted_spans = models.JSONField(null=True, blank=True)
    scored_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The ranking order, so the top of the pool is an index range. NULLS LAST: only
            # the top of a ranking is stored, and Postgres puts NULLs first in DESC order.
            NullsLastIndex(
                F("project"),
                F("state"),
                F("score").desc(nulls_last=True),
                F("id"),
                name="item_pool_ranking",
            ),
            # Only the items in a batch: an import's rows (none is) add no entry to it.
            models.Index(
                fields=["batch", "batch_rank"],
                condition=Q(batch__isnull=False),
                name="item_batch_rank",
            ),
            models.Index(fields=["project"], condition=Q(is_holdout=True), name="item_holdout"),
            # A project's id range (the holdout draws' bounds, exports in id order): without
            # it the primary key was walked through every later project's rows.
            models.Index(fields=["project", "id"], name="item_project_id"),
            # The item browser's orderings across all states (`item_selectors.ORDERINGS`):
            # `-score` walks this forward, `score` backward; `created_at` either way.
            NullsLastIndex(
                F("project"), F("score").desc(nulls_last=True), F("id"), name="item_project_score"
            ),
            models.Index(fields=["project", "created_at", "id"], name="item_project_created"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk}"


class ModelVersion(models.Model):
    """One retrain. A `pending` row is the database's record that a retrain is owed."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        # Failed, and tried again after `retry_at` (`training.failures`).
        RETRYING = "retrying"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=40, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written every few seconds by the worker running it: a stale one means that worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the sweeper last re-sent it (`training.sweeper`), so it re-sends once per bound.
    sent_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    train_size = models.PositiveIntegerField(default=0)
    pool_size = models.PositiveIntegerField(default=0)
    labels_total = models.PositiveIntegerField(default=0)
    annotation_seconds = models.FloatField(default=0.0)
    timings = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(null=True, blank=True)
    max_uncertainty = models.FloatField(null=True, blank=True)
    stop_set_predictions = models.JSONField(null=True, blank=True)
    stopping = models.JSONField(default=list, blank=True)
    model_file = models.CharField(max_length=300, blank=True)
    estimator = models.CharField(max_length=60, blank=True)
    hyperparameters = models.JSONField(
        default=dict, blank=True, help_text="What this fit chose (C by CV, a grid point)."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["project", "version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status="pending"),
                name="one_retrain_owed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} model v{self.version}"


class SelectionLog(models.Model):
    """Why each batch item was picked: strategy, model version and score components."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="selections")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="selections")
    rank = models.PositiveIntegerField()
    reason = models.CharField(max_length=12)  # coverage | model | stale | holdout
    model_version = models.PositiveIntegerField(null=True, blank=True)
    strategy = models.CharField(max_length=40)
    score = models.FloatField(null=True, blank=True)
    components = models.JSONField(default=dict, blank=True)
    withdrawn = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["batch", "rank"]

    def __str__(self) -> str:
        return f"batch {self.batch_id} rank {self.rank}: item {self.item_id} ({self.reason})"


class Annotation(models.Model):
    """One annotator's label for one item: the loop's data, read by training and export."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations"
    )
    label = models.CharField(max_length=200)  # "" on multi-label projects
    # A multi-label project's set (label names in the project's order); NULL otherwise.
    labels = models.JSONField(null=True, blank=True)
    # A span project's spans ([{"start", "end", "label"}] into the item's text); NULL otherwise.
    spans = models.JSONField(null=True, blank=True)
    confidence = models.PositiveSmallIntegerField(default=3)
    seconds = models.FloatField(null=True, blank=True, help_text="Time from hand-out to label.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "annotator_annotation"  # the table predates the model's move to projects
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="one_annotation_per_item"),
            models.CheckConstraint(
                condition=Q(confidence__gte=1) & Q(confidence__lte=5), name="confidence_1_to_5"
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "annotator", "-created_at"],
                name="annotator_a_project_04ead8_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id}: item {self.item_id} = {self.label}"


from projects.artifact_stores import Artifact  # noqa: E402,F401  (the database store's rows)
from projects.feature_chunk import FeatureChunk  # noqa: E402,F401
from projects.item_words import ItemWords  # noqa: E402,F401
from projects.job_models import ImportJob, ReplayJob  # noqa: E402,F401
from projects.rescore_chunk import RescoreChunk  # noqa: E402,F401
