"""docker.Run and the Docker task runner for script tasks, against the real daemon."""

from __future__ import annotations

import threading
import time

import pytest

from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.tasks.docker.build import Build
from kestra_dagster.tasks.docker.run import Run
from kestra_dagster.tasks.scripts.shell_commands import ShellCommands

pytestmark = pytest.mark.slow
DOCKER_RUNNER = "io.kestra.plugin.scripts.runner.docker.Docker"


def ours(client, execution_id: str) -> list:
    return client.containers.list(all=True, filters={"label": f"kestra.execution={execution_id}"})


def test_run_outputs_vars_files_and_removes_container(docker_daemon, base_image, make_ctx):
    ctx = make_ctx("run")
    out = Run(
        id="run", type=Run.kestra_type, containerImage=base_image, pullPolicy="NEVER",
        env={"WHO": "{{ who }}"}, inputFiles={"in.txt": "payload"}, outputFiles=["result.txt"],
        commands=["sh", "-c", 'echo "::{\\"outputs\\":{\\"who\\":\\"$WHO\\"}}::"; cat in.txt > result.txt; '
                              'echo report > $OUTPUT_DIR/report.txt; echo to-stderr >&2'])
    ctx.variables["who"] = "kestra"
    out = out.run(ctx)
    assert out["exitCode"] == 0 and out["vars"] == {"who": "kestra"}
    assert make_ctx.storage.read_bytes(out["outputFiles"]["result.txt"]) == b"payload"
    assert make_ctx.storage.read_bytes(out["outputFiles"]["report.txt"]) == b"report\n"
    assert "to-stderr" in ctx.logger.text()
    assert ours(docker_daemon, ctx.execution_id) == []


def test_run_failure_and_pull_policy_never(docker_daemon, base_image, make_ctx):
    ctx = make_ctx("run")
    with pytest.raises(TaskFailed, match="code 7"):
        Run(id="run", type=Run.kestra_type, containerImage=base_image, pullPolicy="NEVER",
            commands=["sh", "-c", "exit 7"]).run(ctx)
    assert ours(docker_daemon, ctx.execution_id) == []
    with pytest.raises(TaskFailed, match="pullPolicy is NEVER"):
        Run(id="run", type=Run.kestra_type, containerImage="kd-test/does-not-exist:1", pullPolicy="NEVER",
            commands=["true"]).run(make_ctx("run"))


def test_run_cancel_kills_and_removes_container(docker_daemon, base_image, make_ctx):
    ctx = make_ctx("run")
    threading.Timer(1.5, ctx.cancel_event.set).start()
    started = time.monotonic()
    with pytest.raises(TaskKilled):
        Run(id="run", type=Run.kestra_type, containerImage=base_image, pullPolicy="NEVER",
            commands=["sleep", "60"]).run(ctx)
    assert time.monotonic() - started < 10
    assert ours(docker_daemon, ctx.execution_id) == []


def test_run_wait_false_leaves_labelled_container(docker_daemon, base_image, make_ctx):
    ctx = make_ctx("run")
    out = Run(id="run", type=Run.kestra_type, containerImage=base_image, pullPolicy="NEVER", wait=False,
              commands=["sleep", "30"], memory={"memory": "64m"}, cpu={"cpus": 0.5}).run(ctx)
    try:
        found = ours(docker_daemon, ctx.execution_id)
        assert [c.id for c in found] == [out["containerId"]]
        assert found[0].attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    finally:
        docker_daemon.containers.get(out["containerId"]).remove(force=True)


def test_docker_task_runner_runs_freshly_built_image_with_pull_never(docker_daemon, base_image, make_ctx, unique):
    ctx = make_ctx("build")
    built = Build(id="build", type=Build.kestra_type, pull=False, tags=[f"kd-local/runner-{unique}:1"],
                  dockerfile=f'FROM {base_image}\nRUN echo "#!/bin/sh" > /bin/hello && echo "echo hello from the built image" >> /bin/hello '
                             "&& chmod +x /bin/hello\n").run(ctx)
    try:
        ctx = make_ctx("script", variables={"outputs": {"build": {"imageId": built["imageId"]}}})
        task = ShellCommands(
            id="script", type=ShellCommands.kestra_type, containerImage="{{ outputs.build.imageId }}",
            taskRunner={"type": DOCKER_RUNNER, "pullPolicy": "NEVER"},
            env={"GREETING": "hi"}, outputFiles=["out.txt"],
            commands=["hello runner", 'echo "::{\\"outputs\\":{\\"greeting\\":\\"$GREETING\\"}}::"',
                      "echo made-in-container > out.txt", "test -z \"$VIRTUAL_ENV$PYTHONPATH\"",
                      "cat /etc/hostname > $OUTPUT_DIR/host.txt"])
        out = task.run(ctx)
        assert out["exitCode"] == 0 and out["vars"] == {"greeting": "hi"}
        assert "hello from the built image" in ctx.logger.text()
        assert make_ctx.storage.read_bytes(out["outputFiles"]["out.txt"]) == b"made-in-container\n"
        import socket

        assert make_ctx.storage.read_bytes(out["outputFiles"]["host.txt"]).decode().strip() != socket.gethostname()
        assert ours(docker_daemon, ctx.execution_id) == []

        failing = ShellCommands(id="script", type=ShellCommands.kestra_type, containerImage=built["imageId"],
                                taskRunner={"type": DOCKER_RUNNER, "pullPolicy": "NEVER"}, commands=["exit 4"])
        with pytest.raises(TaskFailed, match="exit code 4"):
            failing.run(make_ctx("script"))
    finally:
        docker_daemon.images.remove(built["imageId"], force=True)
