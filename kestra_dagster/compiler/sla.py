"""Kestra's flow ``sla``: MAX_DURATION watched while the run goes, EXECUTION_ASSERTION checked at its end.

Kestra semantics (``SLAService``, ``ExecutorService.processViolation``):

* ``MAX_DURATION`` (``duration``): a monitor created with the execution fires at start + duration;
  if the execution is still going it is violated. ``FAIL`` kills it and ends it FAILED, ``CANCEL``
  ends it CANCELLED, ``NONE`` lets it go on; the SLA's ``labels`` are added in every case.
* ``EXECUTION_ASSERTION`` (``assert``): the expression is rendered against the execution; falsy
  (or not renderable) is a violation handled the same way. Only the first violated assertion
  changes the execution, the others are logged.

Here the monitor is a timer in the run's own process (so it works for ``execute_in_process``,
the CLI and launched runs alike): at the deadline it sets the run-wide cancel event the engine
already honours, so the running task ends KILLED and no further task starts (``afterExecution``
still runs, as in Kestra). ``kestra_end`` then logs the violation, adds the labels (run tags
``kestra.label/<key>``) and sets the final state. Assertions are evaluated there, once, at the
end of the execution (Kestra also evaluates them on every change of a running execution, so an
assertion on inputs alone may stop a Kestra execution earlier; the final state is the same).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kestra_dagster.engine.runner import Scope
from kestra_dagster.engine.states import State
from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import is_truthy
from kestra_dagster.model.common import parse_duration
from kestra_dagster.model.flow import SLA, label_map

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow
    from kestra_dagster.engine.execution import ExecutionState
    from kestra_dagster.engine.runner import Runner

_ENDING = {"FAIL": State.FAILED, "CANCEL": State.CANCELLED}


class SlaStop(threading.Event):
    """The run-wide cancel event; ``reason`` says which SLA stopped the execution (the killed task's error)."""

    reason: str | None = None


@dataclass
class Violation:
    sla: SLA
    reason: str


class _Monitor:
    """MAX_DURATION timers of one run, measured from the execution's start date."""

    def __init__(self, flow, start_date: str):
        self.event = SlaStop()
        self.start = _epoch(start_date)
        self.fired: list[Violation] = []
        self._lock = threading.Lock()
        self._timers = []
        for sla in max_duration_slas(flow):
            limit = parse_duration(sla.duration).total_seconds()
            timer = threading.Timer(max(0.0, self.start + limit - time.time()), self._expire, args=(sla,))
            timer.daemon = True  # only a deadline: it must never keep a process alive
            timer.name = f"kestra-sla-{sla.id}"
            self._timers.append(timer)
            timer.start()

    def _expire(self, sla: SLA) -> None:
        violation = Violation(sla, _duration_reason(sla, time.time() - self.start))
        with self._lock:
            self.fired.append(violation)
        if sla.behavior in _ENDING and not self.event.is_set():
            self.event.reason = f"SLA '{sla.id}' violated: {violation.reason}"
            self.event.set()

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()


_monitors: dict[str, _Monitor] = {}
_monitors_lock = threading.Lock()


def max_duration_slas(flow) -> list[SLA]:
    return [s for s in flow.sla if s.type == "MAX_DURATION"]


def cancel_event(run_id: str, compiled: "CompiledFlow", execution: "ExecutionState", branch: str) -> threading.Event:
    """The cancel event a task op hands to the engine: the run's SLA monitor's, when it has one.

    ``afterExecution`` tasks run whatever the execution's end, so they never get it.
    """
    if branch == "afterExecution" or not max_duration_slas(compiled.flow):
        return threading.Event()
    with _monitors_lock:
        monitor = _monitors.get(run_id)
        if monitor is None:  # first op of this run in this process (every process, with a multiprocess executor)
            monitor = _monitors[run_id] = _Monitor(compiled.flow, execution.start_date)
    return monitor.event


def settle(context, compiled: "CompiledFlow", execution: "ExecutionState", runner: "Runner", state: State) -> State:
    """At the end of the execution: process violations, add their labels, return the final state."""
    flow = compiled.flow
    if not flow.sla:
        return state
    with _monitors_lock:
        monitor = _monitors.pop(context.run_id, None)
    if monitor is not None:
        monitor.stop()
    if state == State.PAUSED:  # the execution goes on in the next part: its monitor starts again there
        return state
    violations = _duration_violations(flow, execution, monitor)
    assertions = _assertion_violations(flow, runner, context.log)
    violations += assertions[:1]  # Kestra: only the first violated assertion acts
    for violation in violations:
        sla = violation.sla
        context.log.warning(f"SLA '{sla.id}' violated: {violation.reason}")
        execution.labels.update({str(k): str(v) for k, v in label_map(sla.labels).items()})
        ending = _ENDING.get(sla.behavior)
        if ending is not None and state not in (State.FAILED, State.CANCELLED):
            context.log.error(f"execution ended {ending.value} by SLA '{sla.id}' (behavior {sla.behavior})")
            state = ending
    return state


def _duration_violations(flow, execution: "ExecutionState", monitor: _Monitor | None) -> list[Violation]:
    fired = {v.sla.id: v for v in (monitor.fired if monitor else [])}
    elapsed = time.time() - _epoch(execution.start_date)
    found = []
    for sla in max_duration_slas(flow):
        if sla.id in fired:
            found.append(fired[sla.id])
        elif elapsed > parse_duration(sla.duration).total_seconds():  # deadline passed in another process
            found.append(Violation(sla, _duration_reason(sla, elapsed)))
    return found


def _assertion_violations(flow, runner: "Runner", log) -> list[Violation]:
    found = []
    for sla in flow.sla:
        if sla.type != "EXECUTION_ASSERTION":
            continue
        try:
            ok = is_truthy(runner.render(sla.assert_, Scope(), prop=f"sla.{sla.id}.assert"))
        except ExpressionError as exc:
            found.append(Violation(sla, f"assertion could not be evaluated: {exc}"))
            continue
        if not ok:
            found.append(Violation(sla, f"assertion is false: {sla.assert_}"))
    for extra in found[1:]:
        log.warning(f"SLA '{extra.sla.id}' violated too (only the first violated assertion acts): {extra.reason}")
    return found


def _duration_reason(sla: SLA, elapsed: float) -> str:
    return f"execution duration of {timedelta(seconds=round(elapsed, 3))} exceeds the maximum duration of {sla.duration}"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
