"""``Pause``: stop the execution until someone resumes it (the approval gate).

A top-level Pause is compiled into an approval gate (``compiler.gates``: the job is split there
and the reviewer recorded); this class runs only where the gate cannot be: nested in another task,
where a Pause with a duration waits in place and one without fails with a message that says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import Duration, Task
from kestra_dagster.tasks.base import RunnableTask


class Pause(RunnableTask):
    """Pause the execution for ``delay``/``pauseDuration`` or until resumed (``onResume`` inputs)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Pause"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.Pause",)
    child_task_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_", "onPause")
    runs_on_worker: ClassVar[bool] = False

    delay: Duration | None = None
    pauseDuration: Duration | None = None
    timeout: Duration | None = None
    behavior: str | None = None
    onResume: list[dict[str, Any]] | None = None
    onPause: Task | None = None
    tasks: list[Task] = Field(default_factory=list)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")

    def run(self, ctx):
        duration = self.pauseDuration or self.delay
        if duration:
            from kestra_dagster.model.common import parse_duration

            seconds = parse_duration(ctx.render_str(duration, prop="pauseDuration")).total_seconds()
            ctx.logger.info(f"paused for {duration}, then resuming (no approval needed)")
            ctx.sleep(seconds)
            return {}
        raise TaskFailed(
            f"Pause '{self.id}' waits for a decision, which only a top-level Pause can do (the approval "
            "gate splits the Dagster job there, not inside another task); move it to the flow's top-level "
            "tasks, or give it a 'pauseDuration' to wait in place"
        )
