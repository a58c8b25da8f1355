"""Which query strategies and batch selectors each task kind may use.

Classification strategies (``query.STRATEGIES``) score class probabilities, single- or
multi-label; sequence strategies (``spans.query.SEQUENCE_STRATEGIES``) score a CRF's
paths and token marginals. A project picks only from its own task's strategies, so the
settings schema asks here rather than testing flags.
"""

from __future__ import annotations

from strategies.query import STRATEGIES
from strategies.selection import SELECTORS
from strategies.spans.query import SEQUENCE_STRATEGIES

TASKS: tuple[str, ...] = ("single", "multilabel", "spans")


def strategies_for_task(task: str) -> dict[str, str]:
    """``{name: description}`` of the strategies a project of ``task`` may pick."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    if task == "spans":
        return {name: info.description for name, info in SEQUENCE_STRATEGIES.items()}
    return {name: info.description for name, info in STRATEGIES.items() if info.task == task}


def strategy_fits(name: str, task: str) -> bool:
    """Whether a project of ``task`` may use strategy ``name``."""
    return name in strategies_for_task(task)


def selector_fits(name: str, task: str) -> bool:
    """Whether a project of ``task`` may use batch selector ``name``.

    A CRF gives no class probabilities, so a span project cannot weigh rare predicted
    classes (``class_balance``) or build BADGE's gradient embeddings."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    if name not in SELECTORS:
        return False
    return not (task == "spans" and selector_needs_proba(name))


def selector_needs_proba(name: str) -> bool:
    """Whether batch selector ``name`` reads class probabilities: it weighs rare
    predicted classes (``class_balance``) or builds BADGE's gradient embeddings."""
    options = SELECTORS[name].options
    return options.class_balance > 0 or options.diversity == "badge"
