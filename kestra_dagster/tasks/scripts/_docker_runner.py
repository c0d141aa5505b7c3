"""Kestra's Docker task runner (``io.kestra.plugin.scripts.runner.docker.Docker``) for script tasks.

``select_runner(task, ctx, default)`` returns a drop-in replacement for the Process runner's
``run_process(args, cwd, env, ctx, handler) -> exit code`` when the task asks for Docker
(``taskRunner.type`` …``.docker.Docker`` or the deprecated ``runner: DOCKER``), else ``default``.

The command runs in a container of ``taskRunner.image`` (else the task's ``containerImage``)
with the working directory bind-mounted **at the same path**, so ``WORKING_DIR``/``OUTPUT_DIR``,
``inputFiles``, ``outputFiles`` and ``::{"outputs":…}::`` lines work exactly as with the Process
runner. Working directories live under ``kestra.tasks.tmp-dir.path`` (``$KESTRA_TASKS_TMP_DIR``)
when it is set: a worker that itself runs in a container mounts that path from the host at the
same path, so the daemon finds the bind-mount source. Only the task's own environment goes in (not this machine's). Properties: ``pullPolicy``
(``ALWAYS`` by default as in Kestra; ``NEVER`` runs an image built earlier in the run),
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


def wants_docker(task, ctx) -> bool:
    runner = getattr(task, "taskRunner", None)
    if runner is not None:
        kind = ctx.render_str(runner.type, prop="taskRunner.type").strip()
        return kind in DOCKER_RUNNER_TYPES or ".docker." in kind.lower() or kind.rsplit(".", 1)[-1].lower().startswith("docker")
    return getattr(task, "runner", None) == "DOCKER"


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
        image = self.opts.get("image") or getattr(task, "containerImage", None)
        if not image:
            raise TaskFailed("the Docker task runner needs an image (taskRunner.image or containerImage)")
        self.image = ctx.render_str(image, "containerImage")

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
            pull_policy=str(opts.get("pullPolicy", "ALWAYS")).upper(),
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
