"""The vocabulary of a project's settings: what a setting is (`Setting`), its types,
groups and pages, the task kinds and the consensus methods.

Split from `projects.settings_schema`, which lists the settings themselves, so that
plain-numpy modules (e.g. `annotator.quality.consensus`) and the strategy checks can
name a task or a consensus method without loading every setting. No Django here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class Group(enum.StrEnum):
    BASICS = "basics"
    STRATEGY = "strategy"
    PEOPLE = "people"
    STOPPING = "stopping"
    STREAM = "stream"
    ANNOTATING = "annotating"
    MODEL = "model"


class Page(enum.StrEnum):
    """Where a lead edits a setting: the settings page, or the guidelines page (the
    guidelines text and the labels' keys and descriptions, edited beside each other)."""

    SETTINGS = "settings"
    GUIDELINES = "guidelines"


# How the settings forms present each group: its title and what it decides.
GROUP_TEXT: dict[Group, tuple[str, str]] = {
    Group.BASICS: ("Basics", "What the project is and what annotators choose from."),
    Group.STRATEGY: ("Strategy", "Which items the model asks people about, and how many at once."),
    Group.PEOPLE: ("People", "How many annotators see each item and how their labels combine."),
    Group.STOPPING: ("Stopping", "When collecting ends by itself. Tick a rule to set it."),
    Group.STREAM: ("Stream", "For items that arrive one by one through the stream API."),
    Group.ANNOTATING: ("Annotating", "What annotators see around each item, and start from."),
    Group.MODEL: ("Model", "Which model learns from the labels, and from which features."),
}


class Task(enum.StrEnum):
    """What one annotation is, fixed when a project is created: one label, a set of labels
    (multi-label), or spans of a text. Multi-label strategies fit only multi-label
    projects, and the single-label ones only single-label projects."""

    SINGLE = "single"
    MULTILABEL = "multilabel"
    SPANS = "spans"


# Tasks a project may be created with.
TASKS_AVAILABLE: tuple[Task, ...] = (Task.SINGLE, Task.MULTILABEL, Task.SPANS)


class Type(enum.StrEnum):
    TEXT = "text"
    LABELS = "labels"  # a list of distinct label names
    INTEGER = "integer"
    NUMBER = "number"
    CHOICE = "choice"
    RULES = "rules"  # a list of stopping rules, each {"rule": name, **parameters}
    BOOLEAN = "boolean"
    MARKDOWN = "markdown"  # long text, rendered as sanitised Markdown
    NAMES = "names"  # a list of distinct short names (e.g. item meta fields)
    LABEL_OPTIONS = "label_options"  # {label: {"key": str, "description": str}}
    OBJECT = "object"  # a JSON object (checked further by the services)


class Consensus(enum.StrEnum):
    """The consensus methods; `annotator.quality.consensus` implements one per name."""

    MAJORITY = "majority"
    WEIGHTED = "weighted"
    DAWID_SKENE = "dawid_skene"


CONSENSUS_DESCRIPTIONS: dict[str, str] = {
    Consensus.MAJORITY: "Majority vote: the most frequent label; ties go to review.",
    Consensus.WEIGHTED: (
        "Confidence-weighted vote: each vote weighs the annotator's confidence / 5."
    ),
    Consensus.DAWID_SKENE: (
        "Dawid-Skene: EM estimate of each annotator's confusion matrix and the true labels."
    ),
}
CONSENSUS_NAMES: tuple[str, ...] = tuple(Consensus)

# Parameters a lead may set per stopping rule besides each rule's defaults (`budget`
# counts labels by default, or annotator-seconds when given `seconds`).
EXTRA_RULE_PARAMS: dict[str, dict[str, Any]] = {"budget": {"seconds": None}}

MAX_LABELS = 200
MAX_NAME = 200
MAX_MARKDOWN = 50_000
MAX_NAMES = 50


@dataclass(frozen=True)
class Setting:
    name: str
    type: Type
    group: Group
    help: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    # name -> description, read when asked: the registries are the strategy library's.
    choices: Callable[[], Mapping[str, str]] | None = None
    nullable: bool = False
    # Required when a project is created (the others take their default).
    required: bool = False
    # Where the API's JSON carries it, when not at the top level under `name`.
    api_path: tuple[str, ...] = ()
    label: str = ""  # the form's label: a sentence
    advanced: bool = False  # shown under "Advanced" in the forms
    # Which choices fit a project of a task (None: all): the others are neither offered
    # nor accepted.
    fits: Callable[[str, Task], bool] | None = None
    page: Page = Page.SETTINGS

    @property
    def api_name(self) -> tuple[str, ...]:
        return self.api_path or (self.name,)

    @property
    def problem(self) -> str:
        """What a valid value is, as the error message for any other value."""
        return self.problem_for(Task.SINGLE)

    def problem_for(self, task: Task) -> str:
        """`problem` for a project of `task` (whose choices may differ)."""
        if self.type == Type.INTEGER:
            return f"{self.name} must be an integer from {self.low:g} to {self.high:g}"
        if self.type == Type.NUMBER:
            return f"{self.name} must be a number from {self.low:g} to {self.high:g}"
        if self.type == Type.CHOICE:
            # Some registries are keyed by enum members: name their values, not reprs.
            names = sorted(getattr(key, "value", key) for key in self.choice_map(task))
            return f"unknown {self.name}; choose one of {names}"
        if self.type == Type.TEXT:
            return f"{self.name} must be 1 to {MAX_NAME} characters"
        if self.type == Type.BOOLEAN:
            return f"{self.name} must be true or false"
        if self.type == Type.MARKDOWN:
            return f"{self.name} must be text of at most {MAX_MARKDOWN} characters"
        if self.type == Type.NAMES:
            return f"{self.name} must be a list of at most {MAX_NAMES} distinct names"
        return f"{self.name} is not valid"

    def choice_map(self, task: Task = Task.SINGLE) -> Mapping[str, str]:
        """The choices a project of `task` may take."""
        choices = self.choices() if self.choices else {}
        if self.fits is None:
            return choices
        return {name: text for name, text in choices.items() if self.fits(name, task)}
