"""Fixtures of the attack tests: the HTTP ``stack`` (see attack_helpers.py); task contexts on real
storage and the real Docker daemon for the runtime ones."""

from __future__ import annotations

import base64
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from attack_helpers import FLOWS, GH_SECRET, PROXY_SECRET, Recorder, Stack, start_front, stop_process
from kd_testing import RecordingLogger, simple_render, unavailable

from kestra_dagster.engine.context import TaskContext, TaskRunInfo
from kestra_dagster.engine.kv import SQLiteKV
from kestra_dagster.engine.storage import LocalStorage
from kestra_dagster.testing import LocalDeployment

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


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the front door dropped an upstream request: expected
        pass


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    flows = root / "flows"
    flows.mkdir()
    for name, text in FLOWS.items():
        (flows / name).write_text(text)
    env = {"SECRET_GH_SECRET": base64.b64encode(GH_SECRET.encode()).decode(),
           "SECRET_EMPTY_SECRET": base64.b64encode(b"   ").decode(),
           "KESTRA_APPROVAL_USER_HEADER": "X-Kestra-User",
           "KESTRA_APPROVAL_USERS": ""}
    deployment = LocalDeployment(root, flows, queued_runs_only=True, env=env)
    server = QuietServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    front_proc = None
    try:
        intake = deployment.start_intake(proxy_secret=PROXY_SECRET)
        webserver = f"http://127.0.0.1:{server.server_address[1]}"
        front, front_proc = start_front(intake, webserver, deployment.logs)
        yield Stack(deployment, intake, front, front_proc, Recorder.seen, env)
    finally:
        if front_proc is not None:
            stop_process(front_proc)
        server.shutdown()
        server.server_close()
        deployment.close()
