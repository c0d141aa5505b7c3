"""Wall-clock budget for rendering: every render stops, whatever the template does.

Counting loop iterations and output size bounds most templates, but not all of them (a filter
working on a large list, a jq program, nested renders). Each render therefore runs under a
deadline (``Limits.max_seconds``), checked at every template node, filter call, loop iteration, jq step
and inside the filters' own loops. The engine adds its own bounds for the task being rendered:
the end of its ``timeout`` and a "stop" event (kill, SLA, run cancelled), so a task timeout stops
rendering too. The state is per thread: a render never sees another thread's deadline.

Regexes cannot be interrupted from Python, so they run on RE2 (linear time, see
:mod:`kestra_dagster.expressions.regex`) instead.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from kestra_dagster.errors import ExpressionError, TaskKilled

_local = threading.local()


class RenderTimeout(ExpressionError):
    """A render ran past its budget (or the task's timeout)."""


class _Bounds:
    __slots__ = ("deadline", "reason", "stop", "counter")

    def __init__(self, deadline: float, reason: str, stop) -> None:
        self.deadline = deadline
        self.reason = reason
        self.stop = stop  # a threading.Event-like object, or None
        self.counter = 0

    def check(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise TaskKilled("the task was stopped while rendering")
        if time.monotonic() > self.deadline:
            raise RenderTimeout(self.reason)


UNBOUNDED = _Bounds(float("inf"), "", None)


def current() -> _Bounds:
    """The bounds of this thread's render (hot loops keep a reference and count themselves)."""
    return getattr(_local, "bounds", None) or UNBOUNDED


def _current() -> _Bounds | None:
    return getattr(_local, "bounds", None)


@contextlib.contextmanager
def bounded(seconds: float | None = None, *, deadline: float | None = None, stop=None,
            reason: str | None = None) -> Iterator[None]:
    """Run the block under a deadline (``seconds`` from now, or a ``time.monotonic`` ``deadline``)
    and/or a stop event; an enclosing bound that ends sooner still applies."""
    outer = _current()
    end = float("inf")
    if seconds is not None:
        end = time.monotonic() + seconds
    if deadline is not None:
        end = min(end, deadline)
    why = reason or (f"rendering took longer than {seconds:g} s" if seconds is not None else "the task timed out")
    if outer is not None:
        if outer.deadline <= end:
            end, why = outer.deadline, outer.reason
        stop = stop or outer.stop
    _local.bounds = _Bounds(end, why, stop)
    try:
        yield
    finally:
        _local.bounds = outer


def check() -> None:
    """Raise when the current render is out of time or its task is being stopped (cheap)."""
    bounds = _current()
    if bounds is not None:
        bounds.check()


def tick(every: int = 64) -> None:
    """:func:`check` every ``every`` calls (for the hottest loops)."""
    bounds = _current()
    if bounds is None:
        return
    bounds.counter += 1
    if bounds.counter % every == 0:
        check()


def remaining() -> float | None:
    bounds = _current()
    if bounds is None or bounds.deadline == float("inf"):
        return None
    return bounds.deadline - time.monotonic()
