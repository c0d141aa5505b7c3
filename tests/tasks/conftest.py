"""Fixtures for task tests: a TaskContext built from plain pieces (no Dagster, no expression engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kestra_dagster.engine.context import TaskContext, TaskRunInfo
from kestra_dagster.engine.kv import SQLiteKV
from kestra_dagster.engine.storage import LocalStorage

from kd_testing import RecordingLogger, simple_render  # noqa: E402,F401 - used by fixtures and tests


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
