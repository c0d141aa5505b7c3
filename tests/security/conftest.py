"""Fixtures for the runtime attack tests: task contexts on real storage, the real Docker daemon."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kd_testing import RecordingLogger, simple_render, unavailable

from kestra_dagster.engine.context import TaskContext, TaskRunInfo
from kestra_dagster.engine.kv import SQLiteKV
from kestra_dagster.engine.storage import LocalStorage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docker"))


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def make_ctx(tmp_path: Path, storage: LocalStorage):
    """``make_ctx(task_id="t", **overrides) -> TaskContext`` with a RecordingLogger as ``ctx.logger``."""
    counter = iter(range(1, 1000))
    kv = SQLiteKV(tmp_path / "kv.sqlite")

    def factory(task_id: str = "t", **overrides: Any) -> TaskContext:
        n = next(counter)
        working_dir = tmp_path / f"work-{task_id}-{n}"
        working_dir.mkdir()
        fields: dict[str, Any] = dict(
            task_id=task_id, task_type="test",
            variables={"flow": {"namespace": "company.team", "id": "flow"}, "execution": {"id": "exec1"}},
            logger=RecordingLogger(), working_dir=working_dir,
            storage=storage.for_task("company.team", "flow", "exec1", task_id, f"run{n}"),
            kv=kv, namespace="company.team", flow_id="flow", execution_id="exec1",
            taskrun=TaskRunInfo(id=f"run{n}", task_id=task_id, start_date="2024-01-01T00:00:00Z"),
            renderer=simple_render,
        )
        fields.update(overrides)
        return TaskContext(**fields)

    yield factory
    kv.close()


@pytest.fixture(scope="session")
def docker_daemon():
    import dockerinfra

    reason, stop = dockerinfra.ensure_daemon()
    if reason:
        unavailable(reason)
    import docker

    client = docker.from_env(timeout=300)
    yield client
    client.close()
    stop()


@pytest.fixture(scope="session")
def base_image(docker_daemon) -> str:
    import dockerinfra

    if not dockerinfra.BUSYBOX.exists():
        unavailable("/bin/busybox is missing (apt-get install busybox-static)")
    dockerinfra.busybox_image(docker_daemon)
    return dockerinfra.BASE_TAG
