"""Kestra's Docker task runner (``io.kestra.plugin.scripts.runner.docker.Docker``) for script tasks.

As in Kestra, it is the **default** runner of script tasks: a task that names no ``taskRunner``
(nor the deprecated ``runner``) runs in a container of its ``containerImage``, else of its type's
default image (``default_image``: Kestra's ``DEFAULT_IMAGE``, e.g. ``python:3.13-slim``). A
machine without Docker makes Process the default with the instance setting
``$KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER=PROCESS`` (``kestra.tasks.scripts.default-task-runner``);
a flow's own ``taskRunner`` or ``pluginDefaults`` still win over it.

``select_runner(task, ctx, default)`` returns a drop-in replacement for the Process runner's
``run_process(args, cwd, env, ctx, handler) -> exit code`` when the task asks for Docker
(``taskRunner.type`` …``.docker.Docker`` or the deprecated ``runner: DOCKER``), else ``default``.

The command runs in a container of ``taskRunner.image`` (else the task's ``containerImage``)
with the working directory bind-mounted **at the same path**, so ``WORKING_DIR``/``OUTPUT_DIR``,
``inputFiles``, ``outputFiles`` and ``::{"outputs":…}::`` lines work exactly as with the Process
runner. Working directories live under ``kestra.tasks.tmp-dir.path`` (``$KESTRA_TASKS_TMP_DIR``)
when it is set: a worker that itself runs in a container mounts that path from the host at the
same path, so the daemon finds the bind-mount source. Only the task's own environment goes in (not this machine's). Properties: ``pullPolicy``
(``IF_NOT_PRESENT`` by default as in Kestra's runner, ``ALWAYS`` for the deprecated
``runner: DOCKER``; ``NEVER`` runs an image built earlier in the run),
``volumes``, ``networkMode``, ``user``, ``entryPoint`` (default ``[""]``), ``cpu.cpus``,
``memory.memory``, ``extraHosts``, ``shmSize``, ``privileged``, ``host``, ``credentials``,
``delete`` (default true). The container carries ``kestra.execution=<id>`` and is removed on
every exit path; a stopped task kills it.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from kestra_dagster.errors import TaskFailed

DOCKER_RUNNER_TYPES = {
    "io.kestra.plugin.scripts.runner.docker.Docker",
    "io.kestra.plugin.scripts.runner.docker.DockerTaskRunner",
    "io.kestra.core.models.tasks.runners.types.DockerTaskRunner",
}


#: The instance setting that chooses the runner of script tasks that name none: DOCKER | PROCESS.
DEFAULT_RUNNER_ENV = "KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER"


def default_runner() -> str:
    """``DOCKER`` (Kestra's default) unless the instance says ``PROCESS``."""
    value = os.environ.get(DEFAULT_RUNNER_ENV, "DOCKER").strip().upper() or "DOCKER"
    if value not in ("DOCKER", "PROCESS"):
        raise TaskFailed(f"{DEFAULT_RUNNER_ENV}={value!r} is not a task runner; use DOCKER or PROCESS")
    return value


def wants_docker(task, ctx) -> bool:
    runner = getattr(task, "taskRunner", None)
    if runner is not None:
        kind = ctx.render_str(runner.type, prop="taskRunner.type").strip()
        return kind in DOCKER_RUNNER_TYPES or ".docker." in kind.lower() or kind.rsplit(".", 1)[-1].lower().startswith("docker")
    legacy = getattr(task, "runner", None)
    if legacy is not None:
        return legacy == "DOCKER"
    return default_runner() == "DOCKER"


def _options(task) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    legacy = getattr(task, "docker", None)
    if isinstance(legacy, dict):  # deprecated ``docker:`` options of runner: DOCKER
        opts.update(legacy)
    runner = getattr(task, "taskRunner", None)
    if runner is not None:
        opts.update({k: v for k, v in (runner.model_extra or {}).items()})
    return opts


def select_runner(task, ctx, default: Callable[..., int]) -> Callable[..., int]:
    if not wants_docker(task, ctx):
        return default
    return DockerRunner(task, ctx)


class DockerRunner:
    """Callable with ``run_process``'s signature, running the command in a container."""

    def __init__(self, task, ctx):
        self.task = task
        self.opts = ctx.render(_options(task), "taskRunner")
        image = self.opts.get("image") or getattr(task, "containerImage", None) or getattr(task, "default_image", None)
        if not image:
            raise TaskFailed("the Docker task runner needs an image (taskRunner.image or containerImage)")
        self.image = ctx.render_str(image, "containerImage")
        # Kestra's runner defaults to IF_NOT_PRESENT; the deprecated `runner: DOCKER` options pulled ALWAYS
        legacy = getattr(task, "taskRunner", None) is None and getattr(task, "runner", None) == "DOCKER"
        self.default_pull = "ALWAYS" if legacy else "IF_NOT_PRESENT"

    def __call__(self, args: list[str], cwd, env: dict[str, str], ctx, handler) -> int:
        from kestra_dagster.sdk.docker import docker_client, render_credentials
        from kestra_dagster.sdk.containers import ContainerSpec, run_container

        opts = self.opts
        # only what the task set (its env, WORKING_DIR, OUTPUT_DIR…), never this machine's environment
        container_env = {k: v for k, v in env.items() if os.environ.get(k) != v}
        entry = opts.get("entryPoint", [""])
        entrypoint = [entry] if isinstance(entry, str) else list(entry or [""])
        cpu = opts.get("cpu") or {}
        memory = opts.get("memory") or {}
        workdir = str(cwd)
        volumes = [f"{workdir}:{workdir}", *[str(v) for v in (opts.get("volumes") or [])]]
        spec = ContainerSpec(
            image=self.image, command=list(args), entrypoint=entrypoint, env=container_env,
            volumes=volumes, working_dir=workdir, network_mode=opts.get("networkMode"), user=opts.get("user"),
            cpus=cpu.get("cpus") if isinstance(cpu, dict) else cpu,
            memory=memory.get("memory") if isinstance(memory, dict) else memory,
            pull_policy=str(opts.get("pullPolicy", self.default_pull)).upper(),
            privileged=bool(opts.get("privileged", False)),
            extra_hosts=list(opts.get("extraHosts") or []), shm_size=opts.get("shmSize"),
            credentials=render_credentials(ctx, opts.get("credentials")),
        )
        delete = str(opts.get("delete", True)).lower() not in ("false", "0", "no")
        client = docker_client(ctx, opts.get("host"))
        try:
            ctx.logger.info(f"running in container image {self.image} (Docker task runner)")
            code, _ = run_container(ctx, client, spec, handler, wait=True, delete=delete)
            return int(code if code is not None else -1)
        finally:
            client.close()
