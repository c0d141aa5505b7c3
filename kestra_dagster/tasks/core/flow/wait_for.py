"""``io.kestra.plugin.core.flow.WaitFor``: run ``tasks`` again and again until ``condition`` holds.

Kestra (0.21, the corpus' version) checks ``condition`` after each complete iteration and stops
when it renders truthy; ``checkFrequency`` bounds the loop (``maxIterations`` 100, ``maxDuration``
PT1H, ``interval`` PT1S between iterations) and ``failOnMaxReached`` makes reaching a bound a
failure. During iteration *n* the children see ``outputs.<waitFor id>.iterationCount`` = *n* and
``taskrun.iteration`` = *n* - 1; each iteration's child outputs replace the previous ones.
"""

from __future__ import annotations

import time
from typing import ClassVar

from pydantic import Field

from kestra_dagster.engine.states import State
from kestra_dagster.errors import TaskFailed
from kestra_dagster.expressions import is_truthy
from kestra_dagster.model.common import Duration, KestraModel, Task, parse_duration
from kestra_dagster.tasks.base import FlowableTask


class CheckFrequency(KestraModel):
    maxIterations: int = Field(default=100, ge=1)
    maxDuration: Duration = "PT1H"
    interval: Duration = "PT1S"


class WaitFor(FlowableTask):
    """Run ``tasks`` until ``condition`` renders truthy (``checkFrequency`` bounds it); output ``iterationCount``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.WaitFor"
    child_task_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors")

    tasks: list[Task] = Field(min_length=1)
    errors: list[Task] = Field(default_factory=list)
    condition: str | bool
    failOnMaxReached: bool = False
    checkFrequency: CheckFrequency = Field(default_factory=CheckFrequency)

    def _seconds(self, runner, scope, prop: str) -> float:
        raw = getattr(self.checkFrequency, prop)
        try:
            return parse_duration(runner.render(raw, scope, self, prop=f"checkFrequency.{prop}")).total_seconds()
        except ValueError as exc:
            raise TaskFailed(f"property 'checkFrequency.{prop}': {exc}") from None

    def execute(self, runner, scope):
        max_duration = self._seconds(runner, scope, "maxDuration")
        interval = self._seconds(runner, scope, "interval")
        log = runner.logger(self.id, scope)
        started = time.monotonic()
        states: list[State] = []
        iteration = 0
        while True:
            iteration += 1
            runner.record_outputs(self, scope, {"iterationCount": iteration})
            states.append(runner.run_list(self.tasks, scope.child(self, iteration=iteration - 1)))
            if states[-1].stops_list:
                break
            if is_truthy(runner.render(self.condition, scope, self, prop="condition")):
                break
            reached = None
            if iteration >= self.checkFrequency.maxIterations:
                reached = f"checkFrequency.maxIterations ({self.checkFrequency.maxIterations})"
            elif time.monotonic() - started >= max_duration:
                reached = f"checkFrequency.maxDuration ({self.checkFrequency.maxDuration})"
            if reached is not None:
                message = f"condition still false after {iteration} iteration(s): {reached} reached"
                if self.failOnMaxReached:
                    raise TaskFailed(f"{message} and failOnMaxReached is true")
                log.warning(message)
                break
            if runner.services.cancel_event.wait(interval):
                states.append(State.KILLED)
                break
        return runner.finish_list(states, scope.child(self), self.errors, ())
