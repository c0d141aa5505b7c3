"""``Pause``: stop the execution until someone resumes it (the approval gate).

The gate itself (splitting the job, recording the reviewer) is built by the triggers/approval
module; compiled alone, a Pause that is reached fails with a message that says so.
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
            "Pause without a duration needs the approval gate, which is not available in this build; "
            "give the Pause a 'pauseDuration' or remove it"
        )
