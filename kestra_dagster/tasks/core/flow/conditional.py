"""``If`` and ``Switch``: choose which child tasks run from a rendered value."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from kestra_dagster.engine.states import State
from kestra_dagster.errors import TaskFailed
from kestra_dagster.expressions import is_truthy
from kestra_dagster.model.common import Task
from kestra_dagster.tasks.base import FlowableTask


class If(FlowableTask):
    """Run ``then`` when ``condition`` renders truthy (Kestra's string truthiness), else ``else``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.If"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.If",)
    child_task_fields: ClassVar[tuple[str, ...]] = ("then", "else_", "errors", "finally_")

    condition: str | bool
    then: list[Task] = Field(min_length=1)
    else_: list[Task] = Field(default_factory=list, alias="else")
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")

    def branches(self) -> dict[str, list[Task]]:
        """The child lists one of which runs, by the name ``choose`` returns."""
        return {"then": self.then, "else_": self.else_}  # ("else" is not a valid Dagster output name)

    def choose(self, runner, scope) -> str:
        result = is_truthy(runner.render(self.condition, scope, self, prop="condition"))
        runner.record_outputs(self, scope, {"evaluationResult": result})
        return "then" if result else "else_"

    def execute(self, runner, scope):
        branch = self.branches()[self.choose(runner, scope)]
        if not branch:
            return State.SUCCESS
        return runner.run_list(branch, scope.child(self), self.errors, self.finally_)


class Switch(FlowableTask):
    """Run the tasks of the case whose key equals the rendered ``value`` (string compare), else ``defaults``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Switch"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.Switch",)
    child_task_fields: ClassVar[tuple[str, ...]] = ("cases", "defaults", "errors", "finally_")

    value: str | int | bool | float
    cases: dict[str, list[Task]] | None = None
    defaults: list[Task] | None = None
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")

    @model_validator(mode="after")
    def _needs_a_branch(self):
        if not self.cases and not self.defaults:
            raise ValueError("Switch needs at least one entry in 'cases' or a 'defaults' list")
        return self

    def branches(self) -> dict[str, list[Task]]:
        """Case lists by position (``case_0``…; keys need not be Dagster names) and ``defaults``."""
        found = {f"case_{i}": tasks for i, tasks in enumerate((self.cases or {}).values())}
        found["defaults"] = self.defaults or []
        return found

    def choose(self, runner, scope) -> str:
        rendered = runner.render(self.value, scope, self, prop="value")
        key = _as_key(rendered)
        cases = [str(k) for k in (self.cases or {})]
        runner.record_outputs(self, scope, {"value": key, "defaults": key not in cases})
        if key in cases:
            return f"case_{cases.index(key)}"
        if not self.defaults:
            # Kestra: no matching case and no defaults is an error (SwitchTest.switchImpossible).
            raise TaskFailed(f"Switch value {key!r} matches no case ({', '.join(map(repr, cases))}) and there is no 'defaults'")
        return "defaults"

    def execute(self, runner, scope):
        return runner.run_list(self.branches()[self.choose(runner, scope)], scope.child(self), self.errors, self.finally_)


def _as_key(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
