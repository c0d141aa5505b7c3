"""Suite-wide fixtures: isolated storage and Dagster home per test, moto S3."""

from __future__ import annotations

import pytest

from kd_testing import s3_server  # noqa: F401 - the moto S3 server fixture, shared by every directory


@pytest.fixture(autouse=True)
def _isolated_storage(tmp_path_factory, monkeypatch):
    """Each test writes its kestra:// files and KV under its own temporary directory."""
    base = tmp_path_factory.mktemp("kestra-storage")
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(base))
    # Script tasks that name no task runner run with Process in this suite, as on a machine
    # without Docker (Kestra's default, Docker, is what tests/kestra1x checks with local images).
    monkeypatch.setenv("KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER", "PROCESS")
    yield
