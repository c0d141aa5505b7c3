"""``Sequential``, ``Parallel`` and ``AllowFailure``: run a block of tasks as one unit."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kestra_dagster.engine.states import State
from kestra_dagster.model.common import Task
from kestra_dagster.tasks.base import FlowableTask


class _Block(FlowableTask):
    child_task_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    tasks: list[Task] = Field(min_length=1)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")


class Sequential(_Block):
    """Run child tasks one after another, with their own errors/finally."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Sequential"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.Sequential",)

    def execute(self, runner, scope):
        return runner.run_list(self.tasks, scope.child(self), self.errors, self.finally_)


class Parallel(_Block):
    """Run child tasks concurrently (``concurrent``: how many at once, 0 = all)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Parallel"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.Parallel",)

    concurrent: int = Field(default=0, ge=0)

    def execute(self, runner, scope):
        return runner.run_parallel(self.tasks, scope.child(self), self.concurrent, self.errors, self.finally_)


class AllowFailure(_Block):
    """Run child tasks; a failure among them ends this block WARNING and the flow goes on."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.AllowFailure"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.AllowFailure",)

    def execute(self, runner, scope):
        return self.fold_block_state(runner.run_list(self.tasks, scope.child(self), self.errors, self.finally_))

    def fold_block_state(self, state):
        return State.WARNING if state == State.FAILED else state
