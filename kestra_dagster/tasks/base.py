"""Base classes for task implementations: one pydantic model per Kestra type, with its behaviour.

A runnable task implements ``run(ctx) -> outputs``; a flowable one implements
``execute(runner, scope) -> State`` and lets the engine run its children. Each concrete class sets
``kestra_type`` (the current Kestra class name) and ``kestra_aliases`` (older names), and lives in
one module of its family package, which ``discover_tasks`` collects: adding a task is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from kestra_dagster.model.common import Task

if TYPE_CHECKING:
    from kestra_dagster.engine.context import TaskContext


class RunnableTask(Task):
    """A task that does work itself (Log, HTTP, scripts…)."""

    #: The ``dagster/compute_kind`` badge shown on the op; defaults to the short class name.
    compute_kind: ClassVar[str | None] = None

    def run(self, ctx: "TaskContext") -> dict[str, Any]:
        raise NotImplementedError


class FlowableTask(Task):
    """A task that only orchestrates child tasks (If, ForEach, Parallel…)."""

    is_flowable: ClassVar[bool] = True
    runs_on_worker: ClassVar[bool] = False

    def execute(self, runner: Any, scope: Any) -> Any:
        raise NotImplementedError

    def fold_block_state(self, state: Any) -> Any:
        """The block's own state from its children's (``AllowFailure`` turns FAILED into WARNING)."""
        return state


def lazy_family_tasks(package_name: str):
    """A family package's module ``__getattr__`` that discovers its ``TASKS`` on first access.

    Importing one task module of a family (the registry resolving one type, the compiler importing
    ``core.flow.subflow``) runs the package's ``__init__``; discovering every task there would
    import the whole family (the core family: ~0.25 s, httpx included) for one ``log.Log``.
    """
    def __getattr__(name: str):
        if name != "TASKS":
            raise AttributeError(f"module {package_name!r} has no attribute {name!r}")
        package = sys.modules[package_name]
        package.TASKS = discover_tasks(package)
        return package.TASKS

    return __getattr__


def discover_tasks(package: ModuleType) -> list[type[Task]]:
    """Every concrete task class defined in the modules of ``package`` (one file per task)."""
    found: list[type[Task]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if info.ispkg:
            found.extend(discover_tasks(module))
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Task)
                and value.__module__ == module.__name__
                and getattr(value, "kestra_type", "")
            ):
                found.append(value)
    return found
