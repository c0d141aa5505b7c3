"""What the compiler does with Docker tasks: asset materializations per image repository, and
Compose stacks torn down when the execution ends even if the flow never asked for it."""

from __future__ import annotations

import textwrap

import pytest
from dagster import AssetKey, DagsterInstance

import dockerinfra
from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.tasks.docker import _compose

pytestmark = pytest.mark.slow


def test_push_materializes_an_asset_per_image_repository(docker_daemon, base_image, registry, dagster_home, tmp_path, unique):
    repo = f"audit/app-{unique}"
    flow = tmp_path / "build_push.yaml"
    flow.write_text(textwrap.dedent(f"""
        id: build_push
        namespace: audit
        tasks:
          - id: build
            type: io.kestra.plugin.docker.Build
            dockerfile: |
              FROM {dockerinfra.BASE_TAG}
              RUN echo {unique} > /stamp
            pull: false
            push: true
            tags: ["{registry.host}/{repo}:1"]
    """))
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    digest = result["outputs"]["build"]["digest"]
    assert "__dagster_asset_materializations__" not in result["outputs"]["build"]
    key = AssetKey(["docker", registry.host.replace(".", "_").replace(":", "_"), *repo.split("/")])
    key = AssetKey([part.replace("-", "_") for part in key.path])
    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(key)
        assert event is not None, f"no materialization for {key}"
        metadata = event.asset_materialization.metadata
        assert metadata["digest"].value == digest
        assert event.run_id == result["runId"]
    docker_daemon.images.remove(result["outputs"]["build"]["imageId"], force=True)


def test_compose_stack_is_torn_down_when_the_execution_ends(docker_daemon, base_image, tmp_path):
    flow = tmp_path / "forgot_down.yaml"
    flow.write_text(textwrap.dedent(f"""
        id: forgot_down
        namespace: audit
        tasks:
          - id: up
            type: io.kestra.plugin.docker.Compose
            composeArgs: [up, -d]
            composeFile: |
              services:
                app:
                  image: {dockerinfra.BASE_TAG}
                  command: ["sleep", "300"]
                  stop_signal: SIGKILL
          - id: check
            type: io.kestra.plugin.core.log.Log
            message: "stack {{{{ outputs.up.projectName }}}} is up"
    """))
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    project = result["outputs"]["up"]["projectName"]
    resources = _compose.project_resources(docker_daemon, project)
    assert not any(resources.values()), resources
