"""Fixtures for task tests: a TaskContext built from plain pieces (no Dagster, no expression engine)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kestra_dagster.engine.context import TaskContext, TaskRunInfo
from kestra_dagster.engine.kv import SQLiteKV
from kestra_dagster.engine.storage import LocalStorage

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


def simple_render(value: Any, variables: dict) -> Any:
    """Replace ``{{ name }}`` / ``{{ a.b }}`` with variables; recurse into lists and dicts.

    Enough to check that tasks render their properties, without the real expression engine.
    """
    if isinstance(value, str):

        def lookup(match: re.Match) -> str:
            current: Any = variables
            for part in match.group(1).split("."):
                if not isinstance(current, dict) or part not in current:
                    return match.group(0)
                current = current[part]
            return str(current)

        return _VAR.sub(lookup, value)
    if isinstance(value, list):
        return [simple_render(v, variables) for v in value]
    if isinstance(value, dict):
        return {simple_render(k, variables): simple_render(v, variables) for k, v in value.items()}
    return value


class RecordingLogger:
    """TaskLogger that keeps (monotonic time, level, message) for assertions."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()

    def _add(self, level: str, msg: str) -> None:
        with self._lock:
            self.records.append((time.monotonic(), level, msg))

    def debug(self, msg: str) -> None:
        self._add("DEBUG", msg)

    def info(self, msg: str) -> None:
        self._add("INFO", msg)

    def warning(self, msg: str) -> None:
        self._add("WARNING", msg)

    def error(self, msg: str) -> None:
        self._add("ERROR", msg)

    def messages(self, level: str | None = None) -> list[str]:
        with self._lock:
            return [m for _, lvl, m in self.records if level is None or lvl == level]

    def text(self) -> str:
        return "\n".join(self.messages())


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def kv(tmp_path: Path) -> SQLiteKV:
    backend = SQLiteKV(tmp_path / "kv.sqlite")
    yield backend
    backend.close()


@pytest.fixture
def make_ctx(tmp_path: Path, storage: LocalStorage, kv: SQLiteKV):
    """``make_ctx(task_id="t", **overrides) -> TaskContext`` with a RecordingLogger as ``ctx.logger``."""
    counter = iter(range(1, 1000))

    def factory(task_id: str = "t", **overrides: Any) -> TaskContext:
        n = next(counter)
        namespace = overrides.pop("namespace", "company.team")
        flow_id = overrides.pop("flow_id", "flow")
        execution_id = overrides.pop("execution_id", "exec1")
        taskrun_id = f"run{n}"
        working_dir = tmp_path / f"work-{task_id}-{n}"
        working_dir.mkdir()
        fields: dict[str, Any] = dict(
            task_id=task_id,
            task_type="test",
            variables={"flow": {"namespace": namespace, "id": flow_id}, "execution": {"id": execution_id}},
            logger=RecordingLogger(),
            working_dir=working_dir,
            storage=storage.for_task(namespace, flow_id, execution_id, task_id, taskrun_id),
            kv=kv,
            namespace=namespace,
            flow_id=flow_id,
            execution_id=execution_id,
            taskrun=TaskRunInfo(id=taskrun_id, task_id=task_id, start_date="2024-01-01T00:00:00Z"),
            renderer=simple_render,
        )
        fields.update(overrides)
        return TaskContext(**fields)

    return factory
