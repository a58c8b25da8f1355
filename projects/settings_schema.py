"""A project's settings, each written once: name, type, default, bounds or choices,
help and group.

Everything else is derived from `SETTINGS`: the services' validation
(`projects.settings_checks.settings_validate`, used by `project_create` and
`project_update`), the pages' form
fields (`projects.forms`) and the API's serializer fields (`projects.api`, and so the
OpenAPI schema). A setting added here appears in all of them; a test checks that.
What a setting is, and the task kinds and consensus names, live in
`projects.settings_types`. No Django at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from projects.settings_types import (
    CONSENSUS_DESCRIPTIONS,
    Consensus,
    Group,
    Page,
    Setting,
    Task,
    Type,
)
from strategies.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MULTILABEL_STRATEGY,
    DEFAULT_SELECTOR,
    DEFAULT_SEQUENCE_SELECTOR,
    DEFAULT_SEQUENCE_STRATEGY,
    DEFAULT_STRATEGY,
)
from strategies.query import STRATEGIES
from strategies.selection import SELECTORS
from strategies.spans.query import SEQUENCE_STRATEGIES
from strategies.stopping import RULES
from strategies.tasks import selector_fits, strategy_fits

# The name of "no embedder": Winnow's own features (TF-IDF text, Pillow image features).
BUILTIN_EMBEDDER = "builtin"
HYPERPARAMETER_SEARCH: dict[str, str] = {
    "off": "Keep the parameters as set (our own model still picks C by CV).",
    "grid": "Pick the estimator's grid point by 3-fold CV at each retrain (20+ labels).",
}


def _server_choices(name: str) -> dict[str, str]:
    """Names the server's Django settings allow (read when asked: no Django at import)."""
    from django.conf import settings

    table: Mapping[str, Mapping[str, Any]] = getattr(settings, name, {})
    return {key: str(entry.get("description", key)) for key, entry in table.items()}


def _embedder_choices() -> dict[str, str]:
    return {
        BUILTIN_EMBEDDER: "Winnow's own features (TF-IDF for text, Pillow features for images).",
        **_server_choices("WINNOW_EMBEDDERS"),
        **_server_choices("WINNOW_IMAGE_EMBEDDERS"),
    }


def _described(registry: Mapping[str, Any]) -> Callable[[], dict[str, str]]:
    return lambda: {name: info.description for name, info in registry.items()}


def _strategy_fits(name: str, task: Task) -> bool:
    """Multi-label strategies score per-label probabilities: only for multi-label tasks,
    and the single-label ones only for single-label tasks (`strategies.tasks`)."""
    return strategy_fits(name, task.value)


def _selector_fits(name: str, task: Task) -> bool:
    """Selectors that weigh class probabilities do not fit span projects."""
    return selector_fits(name, task.value)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "name",
        Type.TEXT,
        Group.BASICS,
        "The project's name.",
        required=True,
        label="What is the project called?",
    ),
    Setting(
        "labels",
        Type.LABELS,
        Group.BASICS,
        "One label per line, in key order (key 1 is the first label).",
        required=True,
        label="Which labels do annotators choose from?",
    ),
    Setting(
        "batch_size",
        Type.INTEGER,
        Group.STRATEGY,
        "How many items each batch holds. A change applies from the next batch: the open "
        "batches keep their size.",
        default=DEFAULT_BATCH_SIZE,
        low=1,
        high=10_000,
        label="How many items go in each batch?",
    ),
    Setting(
        "strategy",
        Type.CHOICE,
        Group.STRATEGY,
        "How the model scores items: higher means ask a human.",
        default=DEFAULT_STRATEGY,
        choices=_described({**STRATEGIES, **SEQUENCE_STRATEGIES}),
        label="Which items should the model ask about?",
        fits=_strategy_fits,
    ),
    Setting(
        "selector",
        Type.CHOICE,
        Group.STRATEGY,
        "How a batch is chosen as a set from the ranking.",
        default=DEFAULT_SELECTOR,
        choices=_described(SELECTORS),
        label="How is a batch chosen from the ranking?",
        advanced=True,
        fits=_selector_fits,
    ),
    Setting(
        "seed_per_class",
        Type.INTEGER,
        Group.STRATEGY,
        "Coverage batches until every label has this many examples.",
        default=2,
        low=0,
        high=1000,
        label="How many examples of each label before the model picks?",
        advanced=True,
    ),
    Setting(
        "holdout_fraction",
        Type.NUMBER,
        Group.STRATEGY,
        "Share of each batch drawn at random for evaluation.",
        default=0.2,
        low=0,
        high=0.9,
        label="What share of each batch is kept apart to measure the model?",
        advanced=True,
    ),
    Setting(
        "holdout_target",
        Type.INTEGER,
        Group.STRATEGY,
        "Stop adding holdout items once this many exist.",
        default=200,
        low=0,
        high=1_000_000,
        label="How many holdout items are enough?",
        advanced=True,
    ),
    Setting(
        "overlap",
        Type.INTEGER,
        Group.PEOPLE,
        "How many annotators label every item.",
        default=1,
        low=1,
        high=20,
        label="How many annotators label each item?",
    ),
    Setting(
        "agreement_fraction",
        Type.NUMBER,
        Group.PEOPLE,
        "Share of items labelled by more annotators, to measure agreement.",
        default=0.0,
        low=0,
        high=1,
        label="What share of items do more annotators label, to measure agreement?",
        advanced=True,
    ),
    Setting(
        "agreement_overlap",
        Type.INTEGER,
        Group.PEOPLE,
        "How many annotators label the items chosen for agreement.",
        default=2,
        low=1,
        high=20,
        label="How many annotators label those items?",
        advanced=True,
    ),
    Setting(
        "consensus_method",
        Type.CHOICE,
        Group.PEOPLE,
        "How several annotators' labels become one.",
        default=Consensus.MAJORITY.value,
        choices=lambda: CONSENSUS_DESCRIPTIONS,
        label="How do several annotators' labels become one?",
        advanced=True,
    ),
    Setting(
        "consensus_threshold",
        Type.NUMBER,
        Group.PEOPLE,
        "Least vote share (or Dawid-Skene posterior) a label needs; else it goes to review.",
        default=0.5,
        low=0,
        high=1,
        label="How sure must the combined label be before it goes to review instead?",
        advanced=True,
    ),
    Setting(
        "gold_fraction",
        Type.NUMBER,
        Group.PEOPLE,
        "Share of hand-outs that are gold items (set gold labels through the API).",
        default=0.0,
        low=0,
        high=0.5,
        label="What share of hand-outs are gold items that check annotators?",
        advanced=True,
    ),
    Setting(
        "stopping",
        Type.RULES,
        Group.STOPPING,
        "The stopping rules in force, each with its parameters.",
        default=(),
        choices=_described(RULES),
        label="When should collecting stop by itself?",
    ),
    Setting(
        "stream_budget",
        Type.NUMBER,
        Group.STREAM,
        "Stream mode: share of arrivals sent to a human (empty: the default share).",
        low=0,
        high=1,
        nullable=True,
        api_path=("stream", "budget"),
        label="What share of stream arrivals go to a person?",
    ),
    Setting(
        "default_confidence",
        Type.INTEGER,
        Group.ANNOTATING,
        "The confidence (1-5) each new item starts with on the annotate page, and that "
        "the API records when none is sent.",
        default=3,
        low=1,
        high=5,
        label="Which confidence does each new item start with?",
    ),
    Setting(
        "show_suggestion",
        Type.BOOLEAN,
        Group.ANNOTATING,
        "Show the model's predicted label on the annotate page (Enter accepts it). Off: "
        "annotators are not anchored by the model.",
        default=False,
        label="Show annotators the model's suggestion?",
    ),
    Setting(
        "allow_empty_set",
        Type.BOOLEAN,
        Group.ANNOTATING,
        "Multi-label projects: whether an annotator may submit an empty set (no label "
        "applies). Off: at least one label is required.",
        default=False,
        label="May a multi-label annotation be an empty set?",
    ),
    Setting(
        "meta_fields",
        Type.NAMES,
        Group.ANNOTATING,
        "The item meta fields annotators see, one per line (empty: none, so a field such "
        "as a source label cannot sway them).",
        default=(),
        label="Which meta fields do annotators see?",
    ),
    Setting(
        "guidelines",
        Type.MARKDOWN,
        Group.ANNOTATING,
        "Annotation guidelines in Markdown, shown beside the annotate page (HTML is not "
        "passed through).",
        default="",
        page=Page.GUIDELINES,
        label="What should annotators read before they start?",
    ),
    Setting(
        "label_options",
        Type.LABEL_OPTIONS,
        Group.ANNOTATING,
        "Per label: its key on the annotate and review pages (one character, not an "
        "action's key) and a description.",
        default=(),
        page=Page.GUIDELINES,
        label="Which key picks each label, and what does each label mean?",
    ),
    Setting(
        "estimator",
        Type.CHOICE,
        Group.MODEL,
        "The model trained at every retrain, from the server's list (WINNOW_ESTIMATORS).",
        default="logistic_regression",
        choices=lambda: _server_choices("WINNOW_ESTIMATORS"),
        label="Which model learns from the labels?",
    ),
    Setting(
        "estimator_params",
        Type.OBJECT,
        Group.MODEL,
        "The estimator's parameters as a JSON object (over the server's defaults).",
        default={},
        label="Which parameters does the model take (a JSON object)?",
        advanced=True,
    ),
    Setting(
        "hyperparameter_search",
        Type.CHOICE,
        Group.MODEL,
        "Search the estimator's grid by cross-validation at each retrain (from 20 labels).",
        default="off",
        choices=lambda: HYPERPARAMETER_SEARCH,
        label="Should each retrain search the model's parameters by cross-validation?",
        advanced=True,
    ),
    Setting(
        "embedder",
        Type.CHOICE,
        Group.MODEL,
        "Features: Winnow's own, or an embedder the server names (WINNOW_EMBEDDERS).",
        default=BUILTIN_EMBEDDER,
        choices=lambda: _embedder_choices(),
        label="Which features does the model learn from?",
    ),
)

# The forms' labels of stopping-rule parameters, as sentences (others: "<param> (<rule>)").
RULE_PARAM_LABELS: dict[tuple[str, str], str] = {
    ("budget", "labels"): "Stop after this many labels.",
    ("budget", "seconds"): "Or after this many annotator-seconds (empty: count labels).",
    ("target", "metric_low"): "Stop when the holdout accuracy's lower 95% bound reaches:",
    ("stabilizing_predictions", "threshold"): "Stop when successive models agree (kappa) at:",
    ("stabilizing_predictions", "window"): "…over this many successive models.",
    ("plateau", "epsilon"): "Stop when the holdout metric gains less than:",
    ("plateau", "window"): "…over this many batches.",
    ("max_uncertainty", "threshold"): "Stop when the highest uncertainty left is below:",
    ("gain_per_hour", "gain_per_hour"): "Stop when the forecast gain per annotator-hour is below:",
}


def rule_param_label(rule: str, param: str) -> str:
    return RULE_PARAM_LABELS.get((rule, param), f"{param.replace('_', ' ')} ({rule})")


SETTING: dict[str, Setting] = {s.name: s for s in SETTINGS}


def defaults(task: Task = Task.SINGLE) -> dict[str, Any]:
    """A new project's settings, for those with a default (the strategy fits `task`)."""
    fresh = {s.name: _fresh(s) for s in SETTINGS if not s.required and not s.nullable}
    if task == Task.MULTILABEL:
        fresh["strategy"] = DEFAULT_MULTILABEL_STRATEGY
    if task == Task.SPANS:
        fresh["strategy"] = DEFAULT_SEQUENCE_STRATEGY
        fresh["selector"] = DEFAULT_SEQUENCE_SELECTOR
    return fresh


def _fresh(setting: Setting) -> Any:
    """A setting's default, as a new object where it is mutable."""
    if setting.type == Type.LABEL_OPTIONS:
        return {}
    if setting.type == Type.OBJECT:
        return dict(setting.default)
    if setting.type in (Type.RULES, Type.NAMES):
        return list(setting.default)
    return setting.default


def from_api(data: Mapping[str, Any]) -> dict[str, Any]:
    """The settings under their names, from the API's JSON (where e.g. `stream_budget`
    is `{"stream": {"budget": ...}}`)."""
    settings = {k: v for k, v in data.items() if k in SETTING}
    for setting in SETTINGS:
        if len(setting.api_path) == 2:
            outer, inner = setting.api_path
            if isinstance(data.get(outer), Mapping) and inner in data[outer]:
                settings[setting.name] = data[outer][inner]
    return settings


def nested_api_groups() -> dict[str, list[Setting]]:
    """The API's nested objects (e.g. `stream`) and the settings each carries."""
    groups: dict[str, list[Setting]] = {}
    for setting in SETTINGS:
        if len(setting.api_path) == 2:
            groups.setdefault(setting.api_path[0], []).append(setting)
    return groups
