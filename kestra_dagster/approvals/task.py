"""``io.kestra.plugin.core.flow.Approval``: the newer, richer gate (Kestra 2026).

The schema is Kestra's (``inputs``, ``decisions``, ``commentRequired``, ``autoApprove``,
``approveBehavior``/``denyBehavior``/``expireBehavior``, ``onWait``/``onApprove``/``onDeny``,
``errors``/``finally``; the task ``timeout`` sets the expiry). At the top level of a flow the
compiler splits the job at the gate (``compiler.gates``); nested inside another flowable it
cannot pause the Dagster run and fails with a message that says so.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel, Task
from kestra_dagster.tasks.base import FlowableTask

Behavior = Literal["CONTINUE", "WARN", "FAIL", "SUCCEED", "CANCEL", "KILL"]


class Decisions(KestraModel):
    approve: str = "Approve"
    deny: str = "Deny"


class Approval(FlowableTask):
    """Wait for a reviewer's decision (approve/deny, comment, inputs), then run onApprove or onDeny."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Approval"
    child_task_fields: ClassVar[tuple[str, ...]] = ("onWait", "onApprove", "onDeny", "errors", "finally_")

    inputs: list[dict[str, Any]] = Field(default_factory=list)
    decisions: Decisions = Field(default_factory=Decisions)
    commentRequired: Literal["NEVER", "ALWAYS", "ON_DENY", "ON_APPROVE"] = "NEVER"
    autoApprove: bool = False
    approveBehavior: Behavior = "CONTINUE"
    denyBehavior: Behavior = "CANCEL"
    expireBehavior: Behavior = "CANCEL"
    onWait: list[Task] = Field(default_factory=list)
    onApprove: list[Task] = Field(default_factory=list)
    onDeny: list[Task] = Field(default_factory=list)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")

    def execute(self, runner: Any, scope: Any) -> Any:
        raise TaskFailed(
            f"Approval '{self.id}' must be a top-level task of the flow: the gate splits the Dagster job there, "
            "which cannot happen inside another flowable task"
        )


TASKS = [Approval]
