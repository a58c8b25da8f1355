"""A project's state machine: its states, which state may follow which, and the one way
to move a project between them.

Every write of `Project.state` goes through `project_transition` (or, where a hot path
writes it inside one SQL statement, takes its from/to values from a `Transition` here),
so the table below is the whole story of how a project moves (PRODUCT.md §2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from projects.models import Project
from winnow.errors import Conflict

State = Project.State


@dataclass(frozen=True)
class Transition:
    """A named move: from any of `sources` to `to`."""

    name: str
    sources: frozenset[State]
    to: State

    @property
    def source(self) -> State:
        """The one source, for SQL that writes this move in a single conditional UPDATE."""
        (only,) = self.sources
        return only

    def after(self, state: str) -> str:
        """The state a project in `state` ends up in, if this move happens where it may."""
        return self.to if state in self.sources else state


# The first items arrive (an import, an image upload, a stream post).
ITEMS_ARRIVED = Transition("items arrived", frozenset({State.SETUP}), State.COLLECTING)
# A retrain is owed (a batch closed, seed labels imported); collecting goes on meanwhile.
RETRAIN_OWED = Transition("retrain owed", frozenset({State.COLLECTING}), State.TRAINING)
# The retrain ended (done with no rule firing, or failed).
RETRAIN_ENDED = Transition("retrain ended", frozenset({State.TRAINING}), State.COLLECTING)
# A stopping rule fired, or the lead stopped the project.
STOP = Transition("stop", frozenset({State.COLLECTING, State.TRAINING}), State.STOPPED)
# The lead overrides the stopping rules.
RESUME = Transition("resume", frozenset({State.STOPPED}), State.COLLECTING)
ARCHIVE = Transition(
    "archive",
    frozenset({State.SETUP, State.COLLECTING, State.TRAINING, State.STOPPED}),
    State.ARCHIVED,
)
# The lead unarchives: the project comes back stopped, and resuming it is a second,
# deliberate step (the stopping rules and the batch room then apply as before).
UNARCHIVE = Transition("unarchive", frozenset({State.ARCHIVED}), State.STOPPED)

TRANSITIONS: tuple[Transition, ...] = (
    ITEMS_ARRIVED,
    RETRAIN_OWED,
    RETRAIN_ENDED,
    STOP,
    RESUME,
    ARCHIVE,
    UNARCHIVE,
)

# Each state's possible successors, derived from the moves above.
ALLOWED: dict[State, frozenset[State]] = {
    state: frozenset(t.to for t in TRANSITIONS if state in t.sources) for state in State
}

# States in which people label and batches open.
ACTIVE = frozenset({State.COLLECTING, State.TRAINING})


class TransitionRefused(ValueError):
    """A move the table does not allow: a bug in the caller, not a race."""


def transition_allowed(from_: str, to: str) -> bool:
    return State(to) in ALLOWED[State(from_)]


def _sources(to: State, from_: str | Iterable[str] | None) -> list[State]:
    possible = {state for state, nexts in ALLOWED.items() if to in nexts}
    if from_ is None:
        return sorted(possible)
    asked = {State(from_)} if isinstance(from_, str) else {State(s) for s in from_}
    refused = asked - possible
    if refused:
        raise TransitionRefused(f"a project cannot move from {sorted(refused)} to {to}")
    return sorted(asked)


def project_transition(
    *,
    project_id: int,
    to: str,
    from_: str | Iterable[str] | None = None,
    reason: str = "",
) -> bool:
    """Move the project to `to` if it is in `from_` (default: any state the table allows
    to precede `to`); False if it was not.

    One conditional UPDATE (atomic on its own, so no transaction of its own: it joins
    the caller's), so of two concurrent writers the second sees the first's
    state and moves only if the table still allows it. `stop_reason` says why a project
    is stopped, so it is set when stopping and cleared by every other move.
    """
    target = State(to)
    sources = _sources(target, from_)
    reason = reason if target == State.STOPPED else ""
    moved = Project.objects.filter(pk=project_id, state__in=sources).update(
        state=target, stop_reason=reason
    )
    return moved > 0


def project_move(
    project: Project, *, to: str, from_: str | Iterable[str] | None = None, reason: str = ""
) -> bool:
    """`project_transition`, keeping the caller's instance in step when it moved."""
    moved = project_transition(project_id=project.pk, to=to, from_=from_, reason=reason)
    if moved:
        project.state = State(to)
        project.stop_reason = reason if State(to) == State.STOPPED else ""
    return moved


def project_writable(project: Project) -> None:
    """An archived project is read-only: its items and labels change only once unarchived."""
    if project.state == State.ARCHIVED:
        raise Conflict("The project is archived: unarchive it to change its items.")
