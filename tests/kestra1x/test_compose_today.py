"""``docker.Compose`` with a task runner, as Kestra runs it, against the real daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file

FLOWS = Path(__file__).parent / "flows"


def test_compose_in_the_default_cli_image_with_the_socket_mounted(default_images, tmp_path, monkeypatch):
    client = default_images
    seen = {}
    real_down = None

    from kestra_dagster.tasks.docker import compose as compose_module

    original = compose_module.published_ports

    def spy(docker_client, project):  # look at the stack while it is up
        containers = docker_client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
        seen["env"] = [c.attrs["Config"]["Env"] for c in containers]
        seen["labels"] = [c.labels for c in containers]
        return original(docker_client, project)

    monkeypatch.setattr(compose_module, "published_ports", spy)
    result = run_flow_file(str(FLOWS / "docker_compose_runner.yaml"), {})
    assert result["state"] == "SUCCESS", result
    up = result["outputs"]["up"]
    assert up["vars"] == {"before": "ran"} and up["exitCode"] == 0
    assert any("GREETING=hello-from-env" in env for env in seen["env"])
    assert all(labels.get("kestra.execution") == result["runId"] for labels in seen["labels"])
    project = up["projectName"]
    assert result["outputs"]["ps"]["projectName"] == project
    assert not client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    # the CLI's own containers are gone too
    assert not client.containers.list(all=True, filters={"ancestor": "docker:27.5.1-cli"})
