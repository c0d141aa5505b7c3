"""Kestra's task-run and execution states, and how a list of them folds into one."""

from __future__ import annotations

from enum import Enum
from typing import Iterable


class State(str, Enum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CANCELLED = "CANCELLED"
    QUEUED = "QUEUED"
    RETRYING = "RETRYING"
    SKIPPED = "SKIPPED"

    def __str__(self) -> str:
        return self.value

    @property
    def is_failure(self) -> bool:
        return self in (State.FAILED, State.KILLED)

    @property
    def stops_list(self) -> bool:
        """A task that ends this way stops the rest of its list (and sends it to ``errors``)."""
        return self in (State.FAILED, State.KILLED)


def guess_final_state(states: Iterable[State]) -> State:
    """Kestra's ``Execution.guessFinalState``: KILLED, else FAILED, else WARNING, else PAUSED, else SUCCESS."""
    seen = set(states)
    for candidate in (State.KILLED, State.FAILED, State.WARNING, State.PAUSED):
        if candidate in seen:
            return candidate
    return State.SUCCESS


def apply_allow(state: State, allow_failure: bool, allow_warning: bool) -> State:
    """``allowFailure`` turns FAILED into WARNING; ``allowWarning`` turns WARNING into SUCCESS."""
    if state == State.FAILED and allow_failure:
        state = State.WARNING
    if state == State.WARNING and allow_warning:
        state = State.SUCCESS
    return state
