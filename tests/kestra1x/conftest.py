"""The Kestra 1.x set reuses the plugin tests' real peers: the HTTP receiver and aiosmtpd."""

from plugins.conftest import receiver, smtp_server  # noqa: F401 - fixtures for this directory
from plugins.conftest import make_ctx  # noqa: F401,E402 - a real TaskContext for task-level checks

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from kd_testing import unavailable  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docker"))


@pytest.fixture(scope="session")
def default_images():
    """Kestra's default image names (ubuntu, python:3.13-slim, node) built locally; see default_images.py."""
    import dockerinfra
    from kestra1x import default_images as images

    reason, stop = dockerinfra.ensure_daemon()
    if reason:
        unavailable(reason)
    import docker

    client = docker.from_env(timeout=300)
    built = []
    try:
        for tag in images.BUILDERS:
            try:
                if images.ensure_image(client, tag):
                    built.append(tag)
            except RuntimeError as exc:
                unavailable(str(exc))
        yield client
    finally:
        for tag in built:
            try:
                client.images.remove(tag, force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        client.close()
        stop()


@pytest.fixture
def docker_by_default(monkeypatch):
    """Kestra's own default: script tasks without a taskRunner run in Docker."""
    monkeypatch.delenv("KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER", raising=False)


@pytest.fixture(scope="session")
def kestra_venv(tmp_path_factory):
    """Another interpreter than ours, with Kestra's real `kestra` package (PyPI) installed."""
    root = tmp_path_factory.mktemp("kestra-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    proc = subprocess.run([str(root / "bin" / "pip"), "install", "-q", "kestra"], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        unavailable(f"cannot install the kestra package from the package index: {proc.stderr[-500:]}")
    return root / "bin" / "python"
