"""``ForEach`` (and the deprecated ``EachSequential``/``EachParallel``): run tasks once per value.

Outputs of the children are keyed by the (string) value, like Kestra: ``outputs.child[value]``,
nested per enclosing loop. ``taskrun.value``/``taskrun.iteration`` describe the current item and
``parent``/``parents`` the enclosing ones.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.engine.states import State
from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import Task
from kestra_dagster.tasks.base import FlowableTask


def resolve_values(runner, task, scope, raw: Any) -> list[str]:
    """Values as Kestra sees them: a list or a JSON array string; each item as a string."""
    rendered = runner.render(raw, scope, task, prop="values") if isinstance(raw, (str, list)) else raw
    if isinstance(rendered, str):
        text = rendered.strip()
        if not text:
            return []
        try:
            rendered = json.loads(text)
        except json.JSONDecodeError:
            raise TaskFailed(f"values must be a list or a JSON array, got {text[:80]!r}") from None
    if rendered is None:
        return []
    if not isinstance(rendered, list):
        raise TaskFailed(f"values must be a list, got {type(rendered).__name__}")
    nulls = sum(v is None for v in rendered)
    if nulls:  # Kestra refuses them too (FlowableUtils): a null has no string value to key outputs by
        raise TaskFailed(f"Found '{nulls}' null values on Each, with values={json.dumps(rendered, default=str)}")
    return [_as_value(v) for v in rendered]


def _as_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class _Loop(FlowableTask):
    child_task_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    tasks: list[Task] = Field(min_length=1)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")

    #: How many items run at once (1 = one after another); the subclasses say where it comes from.
    def limit(self) -> int:
        return 1

    def items(self, runner, scope) -> list[str]:
        raise NotImplementedError

    def item_scope(self, scope, iteration: int, value: str):
        # ``parent`` of a child is this loop's own task run (its value is the enclosing
        # item, if any), not the current item: that one is ``taskrun.value``.
        return scope.child(self, values=(*scope.values, value), taskrun_value=value, iteration=iteration)

    def execute(self, runner, scope):
        return self._loop(runner, scope, self.items(runner, scope), self.limit())

    def _loop(self, runner, scope, values: list[str], limit: int) -> State:
        def one(item: tuple[int, str]) -> State:
            return runner.run_list(self.tasks, self.item_scope(scope, *item))

        items = list(enumerate(values))
        if limit == 1:  # one item at a time: a failed item stops the loop, like a task list
            states = []
            for item in items:
                states.append(one(item))
                if states[-1].stops_list:
                    break
        else:
            states = runner.map_concurrently(items, one, limit)
        return runner.finish_list(states, scope.child(self), self.errors, self.finally_)


class ForEach(_Loop):
    """Run ``tasks`` for every item of ``values``; ``concurrencyLimit`` items at once (0 = all)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.ForEach"

    values: list[Any] | str
    concurrencyLimit: int = Field(default=1, ge=0)

    def items(self, runner, scope):
        return resolve_values(runner, self, scope, self.values)

    def limit(self):
        return self.concurrencyLimit


class EachSequential(_Loop):
    """Deprecated: ForEach one item at a time."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.EachSequential"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.EachSequential",)

    value: list[Any] | str

    def items(self, runner, scope):
        return resolve_values(runner, self, scope, self.value)


class EachParallel(_Loop):
    """Deprecated: ForEach with every item at once (``concurrent`` caps it)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.EachParallel"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.EachParallel",)

    value: list[Any] | str
    concurrent: int = Field(default=0, ge=0)

    def items(self, runner, scope):
        return resolve_values(runner, self, scope, self.value)

    def limit(self):
        return self.concurrent

