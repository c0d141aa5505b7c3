"""``Dag``: run child tasks as soon as the tasks they ``dependsOn`` have succeeded."""

from __future__ import annotations

import threading
from typing import ClassVar

from pydantic import Field

from kestra_dagster.engine.states import State
from kestra_dagster.model.common import KestraModel, Task
from kestra_dagster.tasks.base import FlowableTask


class DagTask(KestraModel):
    task: Task
    dependsOn: list[str] = Field(default_factory=list)


class Dag(FlowableTask):
    """A block whose children form a dependency graph (acyclic), ``concurrent`` at most at once."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.flow.Dag"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.flows.Dag",)
    child_task_fields: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally_")

    tasks: list[DagTask] = Field(min_length=1)
    concurrent: int = Field(default=0, ge=0)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")

    @classmethod
    def parse_children(cls, name, value, path, parse_task, error):
        if not isinstance(value, list):
            return value  # let the schema report the wrong type
        if name != "tasks":
            return [parse_task(v, (*path, i)) for i, v in enumerate(value)]
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict) and "task" in item:
                item = {**item, "task": parse_task(item["task"], (*path, i, "task"))}
            out.append(item)
        return out

    def child_lists(self):
        return [("tasks", [t.task for t in self.tasks]), ("errors", self.errors), ("finally", self.finally_)]

    def check_flow_rules(self, flow):
        ids = [t.task.id for t in self.tasks]
        for i, node in enumerate(self.tasks):
            for j, dep in enumerate(node.dependsOn):
                if dep not in ids:
                    yield ("tasks", i, "dependsOn", j), f"depends on '{dep}', which is not a task of this Dag (known: {', '.join(ids)})"
        cycle = _find_cycle({t.task.id: [d for d in t.dependsOn if d in ids] for t in self.tasks})
        if cycle:
            first = ids.index(cycle[0])
            yield ("tasks", first, "dependsOn"), f"cyclic dependency: {' -> '.join(cycle)}"

    def execute(self, runner, scope):
        child = scope.child(self)
        deps = {t.task.id: set(t.dependsOn) for t in self.tasks if not t.task.disabled}
        tasks = {t.task.id: t.task for t in self.tasks if not t.task.disabled}
        for d in deps.values():
            d.intersection_update(tasks)
        states: dict[str, State] = {}
        lock = threading.Condition()
        limit = self.concurrent or len(tasks)
        running: set[str] = set()
        failed = False

        def worker(task_id: str) -> None:
            nonlocal failed
            state = runner.run_task(tasks[task_id], child)
            with lock:
                states[task_id] = state
                running.discard(task_id)
                failed = failed or state.stops_list
                lock.notify_all()

        threads = []
        with lock:
            while True:
                ready = [
                    t for t in tasks
                    if t not in states and t not in running and all(states.get(d) in (State.SUCCESS, State.WARNING, State.SKIPPED) for d in deps[t])
                ]
                if failed or (not ready and not running):
                    break
                for task_id in ready[: max(0, limit - len(running))]:
                    running.add(task_id)
                    th = threading.Thread(target=worker, args=(task_id,), daemon=True)
                    threads.append(th)
                    th.start()
                lock.wait(0.5)
            while running:
                lock.wait(0.5)
        return runner.finish_list(list(states.values()), child, self.errors, self.finally_)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = GREY
        stack.append(node)
        for nxt in graph[node]:
            if color[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if color[nxt] == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = BLACK
        return None

    for n in graph:
        if color[n] == WHITE:
            found = visit(n)
            if found:
                return found
    return None
