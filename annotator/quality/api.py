"""JSON API for annotation quality: agreement, annotator stats, gold items, review queue.

Access: agreement and the review queue are for reviewers, leads and admins; gold
items for leads; annotator stats for every member, an annotator seeing only
their own row. Outsiders get 404 everywhere (projects.access).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.answer_fields import label_field, labels_field, spans_field
from annotator.quality import gold, review, selectors
from projects.access import ANYONE, LEAD_ONLY, REVIEWERS, Role, project_for_member
from winnow.errors import error_responses


class PairSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    n = serializers.IntegerField()
    cohen_kappa = serializers.FloatField(allow_null=True)
    exact_f1 = serializers.FloatField(
        allow_null=True, required=False, help_text="Span projects: F1 of exactly equal spans."
    )
    partial_f1 = serializers.FloatField(
        allow_null=True,
        required=False,
        help_text="Span projects: overlapping spans count half, labels ignored (nervaluate).",
    )
    overlap_f1 = serializers.FloatField(
        allow_null=True,
        required=False,
        help_text="Span projects: overlapping spans of the same label (nervaluate's ent_type).",
    )


class AccuracySerializer(serializers.Serializer):
    annotator = serializers.CharField()
    n = serializers.IntegerField()
    accuracy = serializers.FloatField(
        help_text="Multi-label projects: the share of label decisions that match the gold set. "
        "Span projects: the share of gold items answered with exactly the gold spans."
    )
    masi = serializers.FloatField(
        required=False, help_text="Multi-label projects: mean 1 - MASI distance to the gold set."
    )
    exact_f1 = serializers.FloatField(
        allow_null=True,
        required=False,
        help_text="Span projects: F1 against the gold spans, exactly equal spans (null: no "
        "span on either side).",
    )
    partial_f1 = serializers.FloatField(
        allow_null=True,
        required=False,
        help_text="Span projects: F1 against the gold spans, overlapping spans counting half, "
        "labels ignored (nervaluate).",
    )


class ConfusionSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField())
    matrix = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    pairs = serializers.IntegerField()


class LabelAgreementSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]
    items = serializers.IntegerField()
    fleiss_kappa = serializers.FloatField(allow_null=True)
    krippendorff_alpha = serializers.FloatField(allow_null=True)
    pairs = PairSerializer(many=True)


class AgreementSerializer(serializers.Serializer):
    items = serializers.IntegerField(help_text="Items with >= 2 annotations.")
    fleiss_kappa = serializers.FloatField(allow_null=True)
    krippendorff_alpha = serializers.FloatField(allow_null=True)
    pairs = PairSerializer(many=True)
    annotations = serializers.IntegerField()
    annotators = serializers.IntegerField()
    min_shared = serializers.IntegerField()
    confusion = ConfusionSerializer()
    gold = AccuracySerializer(many=True)
    per_label = LabelAgreementSerializer(
        many=True,
        required=False,
        help_text="Multi-label projects: each label as a yes/no question.",
    )
    distance = serializers.CharField(
        required=False, help_text='Multi-label projects: "masi", the distance between sets.'
    )
    unit = serializers.CharField(
        required=False,
        help_text="Span projects: \"token\", the unit of Krippendorff's alpha (each token's "
        "value is the entity label it falls in, O outside).",
    )


class AgreementView(APIView):
    @extend_schema(
        responses={200: AgreementSerializer, **error_responses(401, 403, 404)},
        description="Cohen's kappa per annotator pair (usernames `a`, `b`, over `n` shared "
        "items), Fleiss' kappa and Krippendorff's alpha over the `items` with >= 2 "
        "annotations (null below `min_shared`), label confusion between annotators, "
        "and each annotator's accuracy on gold items. Multi-label projects: "
        "`krippendorff_alpha` is over whole sets with the MASI distance, `fleiss_kappa` "
        "and each pair's kappa the mean over the labels, `per_label` each label's figures. "
        "Span projects: `krippendorff_alpha` over tokens, each pair's span F1 (exact, "
        "partial, overlap); the kappas are null; each annotator's `gold` row has span F1 "
        "(`exact_f1`, `partial_f1`) against the gold spans.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, REVIEWERS)
        return Response(selectors.agreement(project))


class AnnotatorStatsSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    items = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    consensus_items = serializers.IntegerField()
    consensus_agreement = serializers.FloatField(allow_null=True)
    gold_items = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_exact_f1 = serializers.FloatField(
        allow_null=True, required=False, help_text="Span projects: exact span F1 against gold."
    )
    gold_partial_f1 = serializers.FloatField(
        allow_null=True, required=False, help_text="Span projects: partial span F1 against gold."
    )


class AnnotatorStatsView(APIView):
    @extend_schema(
        responses={200: AnnotatorStatsSerializer(many=True), **error_responses(401, 404)},
        description="Per annotator: items labelled, median seconds per item, agreement "
        "with the final label on items with >= 2 annotations, and accuracy on gold "
        "items. Annotators see only their own row.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, role = project_for_member(request.user, project_id, ANYONE)
        only = request.user if role == Role.ANNOTATOR else None
        return Response(selectors.annotator_stats(project, user=only))


class ReviewSpan(serializers.Serializer):
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]


class GoldEntry(serializers.Serializer):
    item = serializers.IntegerField()
    label = label_field(allow_null=True)  # type: ignore[assignment]
    labels = labels_field("Multi-label projects: the true set (null unmarks).", allow_null=True)
    spans = spans_field(
        'Span projects: the true spans, [{"start", "end", "label"}] ([]: no entity; null unmarks).',
        allow_null=True,
        required=False,
    )


class GoldInput(serializers.Serializer):
    items = GoldEntry(many=True, allow_empty=False)


GoldResult = inline_serializer(
    "GoldResult",
    {
        "updated": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


class GoldItem(serializers.Serializer):
    item = serializers.IntegerField()
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    labels = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Multi-label projects."
    )
    spans = ReviewSpan(many=True, allow_null=True, help_text="Span projects: the true spans.")
    state = serializers.CharField()


class GoldView(APIView):
    @extend_schema(responses={200: GoldItem(many=True), **error_responses(401, 403, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        return Response(
            [
                {"item": item_id, "label": label, "labels": labels, "spans": spans, "state": state}
                for item_id, label, labels, spans, state in selectors.gold_items(
                    project
                ).values_list("id", "gold_label", "gold_labels", "gold_spans", "state")
            ]
        )

    @extend_schema(
        request={"application/json": GoldInput},  # a list of objects: forms cannot say it
        responses={200: GoldResult, **error_responses(400, 401, 403, 404)},
        description="Mark items gold with their true label (`label: null` unmarks); "
        "on multi-label projects with their true set (`labels`, `null` unmarks), on span "
        "projects with their true spans (`spans`, checked like a submit; `null` unmarks). "
        "Gold items leave the pool, are not trained on, and are handed to annotators "
        "unannounced at the project's `gold_fraction`. Usable entries are kept and the "
        "rest listed in `errors` by item; when none was usable the answer is 400 with "
        "the same `{updated, errors}` body.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        data = GoldInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = gold.gold_set(project=project, entries=data.validated_data["items"])
        code = status.HTTP_400_BAD_REQUEST if not result.updated else status.HTTP_200_OK
        return Response({"updated": result.updated, "errors": result.errors}, status=code)


class ReviewAnnotation(serializers.Serializer):
    annotator = serializers.CharField()
    label = serializers.CharField(allow_blank=True)  # type: ignore[assignment]
    labels = serializers.ListField(
        child=serializers.CharField(), allow_null=True, required=False,
        help_text="Multi-label projects: the annotator's set.",
    )  # fmt: skip
    spans = ReviewSpan(
        many=True,
        allow_null=True,
        required=False,
        help_text="Span projects: the annotator's spans.",
    )
    confidence = serializers.IntegerField()
    seconds = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()


class ReviewItem(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField()
    text = serializers.CharField(required=False)
    image_url = serializers.CharField(required=False)
    meta = serializers.DictField()
    support = serializers.FloatField(allow_null=True)
    votes = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Annotations per label (multi-label projects: sets that hold the label; span "
        "projects: annotations with a span of the label).",
    )
    annotations = ReviewAnnotation(many=True)
    gold = serializers.JSONField(
        allow_null=True, help_text="A gold item's gold label, set or spans; null when not gold."
    )
    gold_summary = serializers.CharField(help_text="The gold answer in words ('' when not gold).")


class ReviewInput(serializers.Serializer):
    item = serializers.IntegerField()
    label = label_field()  # type: ignore[assignment]
    labels = labels_field("Multi-label projects: the final set.")
    spans = spans_field(
        'Span projects: the final spans, [{"start", "end", "label"}] ([]: no entity).',
        required=False,
    )
    action = serializers.ChoiceField(choices=["decide", "send_back"], default="decide")

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        decides = attrs["action"] == "decide"
        answer = attrs.get("labels") is not None or attrs.get("spans") is not None
        if decides and not attrs.get("label") and not answer:
            raise serializers.ValidationError({"label": "give the final label (or send_back)"})
        return attrs


ReviewOutput = inline_serializer(
    "ReviewResult",
    {
        "item": serializers.IntegerField(),
        "label": serializers.CharField(allow_null=True),
        "labels": serializers.ListField(
            child=serializers.CharField(), allow_null=True, required=False
        ),
        "spans": ReviewSpan(many=True, allow_null=True, required=False),
        "state": serializers.CharField(),
        "reviewer": serializers.CharField(required=False),
        "created_at": serializers.DateTimeField(required=False),
    },
)


def _member(request: Request) -> User:
    """The caller, signed in: project_for_member has already turned anonymous callers away."""
    user = request.user
    assert isinstance(user, User)
    return user


class ReviewView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int, default=selectors.REVIEW_LIMIT)],
        responses={200: ReviewItem(many=True), **error_responses(401, 403, 404)},
        description="Items without consensus, oldest first, each with every annotator's "
        "label, confidence and seconds.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, REVIEWERS)
        limit = request.query_params.get("limit", "")
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        size = int(limit) if limit.isascii() and limit.isdigit() else selectors.REVIEW_LIMIT
        return Response(selectors.review_queue(project, limit=min(size, 1000)))

    @extend_schema(
        request=ReviewInput,
        responses={
            201: ReviewOutput,
            200: OpenApiResponse(ReviewOutput, description="Repeated, or sent back."),
            **error_responses(400, 401, 403, 404, 409),
        },
        description="`{item, label}` gives the final label (`labels` on multi-label "
        "projects, `spans` on span projects; recorded with reviewer and time; 201, or 200 "
        "when repeated); `{item, action: send_back}` returns the item to the open batch "
        "for one more annotator.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, REVIEWERS)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        item_id = data.validated_data["item"]
        if data.validated_data["action"] == "send_back":
            item = review.review_send_back(project=project, user=_member(request), item_id=item_id)
            return Response({"item": item.pk, "label": None, "state": item.state})
        decision, created = review.review_decide(
            project=project,
            user=_member(request),
            item_id=item_id,
            label=data.validated_data.get("label"),
            labels=data.validated_data.get("labels"),
            spans=data.validated_data.get("spans"),
        )
        return Response(
            {
                "item": item_id,
                "label": decision.label or None,
                "labels": decision.labels,
                "spans": decision.spans,
                "state": "labeled",
                "reviewer": decision.reviewer.get_username(),
                "created_at": decision.created_at,
            },
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
