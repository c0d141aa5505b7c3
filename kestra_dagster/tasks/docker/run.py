"""``io.kestra.plugin.docker.cli.Run``: run a container; outputs like a script task.

``commands`` is the container command (exec form), ``entryPoint`` overrides the image's.
The working directory (with ``inputFiles``) is mounted at ``/kestra/working-dir`` (env
``WORKING_DIR``, ``OUTPUT_DIR`` below it); files matching ``outputFiles`` and anything written to
``OUTPUT_DIR`` become ``outputFiles``. ``::{"outputs":{…}}::`` lines become ``vars``. The container
is labelled with the run, removed on every exit path (unless ``wait: false``: then it keeps
running and ``containerId`` is returned), killed when the task is stopped.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import Credentials, docker_client, render_credentials
from kestra_dagster.sdk.containers import ContainerSpec, run_container
from kestra_dagster.tasks.scripts._exec import HIDDEN_PREFIX
from kestra_dagster.sdk.values import as_list, as_text
from kestra_dagster.sdk.process import LineHandler

CONTAINER_WORKDIR = "/kestra/working-dir"


class Run(RunnableTask):
    """Run a command in a container (pull policy, env, volumes, ports, cpu/memory, user)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.docker.cli.Run"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.docker.Run",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "docker"

    containerImage: str
    commands: list[str] | str | None = None
    entryPoint: list[str] | str | None = None
    env: dict[str, Any] | None = None
    volumes: list[str] | str | None = None
    networkMode: str | None = None
    pullPolicy: str = "IF_NOT_PRESENT"
    portBindings: list[str] | str | None = None
    memory: dict[str, Any] | str | None = None
    cpu: dict[str, Any] | float | str | None = None
    user: str | None = None
    privileged: bool | str = False
    wait: bool | str = True
    host: str | None = None
    config: dict[str, Any] | str | None = None
    credentials: Credentials | None = None
    inputFiles: dict[str, Any] | str | None = None
    outputFiles: list[str] | str | None = None
    warningOnStdErr: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        output_dir = Path(tempfile.mkdtemp(prefix=f"{HIDDEN_PREFIX}outputs-", dir=workdir))
        container_output = f"{CONTAINER_WORKDIR}/{output_dir.name}"
        extra = {"workingDir": CONTAINER_WORKDIR, "outputDir": container_output}

        def render(value: Any, prop: str) -> Any:
            return ctx.render(value, prop, extra=extra)

        try:
            from kestra_dagster.tasks.scripts._exec import AbstractExecScript

            helper = AbstractExecScript.model_construct(inputFiles=self.inputFiles, outputFiles=self.outputFiles)
            helper._write_input_files(ctx, render, workdir)
            env = {str(k): as_text(v) for k, v in (render(self.env, "env") or {}).items()}
            env.setdefault("WORKING_DIR", CONTAINER_WORKDIR)
            env.setdefault("OUTPUT_DIR", container_output)
            memory = render(self.memory, "memory")
            cpu = render(self.cpu, "cpu")
            entry = render(self.entryPoint, "entryPoint")
            spec = ContainerSpec(
                image=ctx.render_str(self.containerImage, "containerImage"),
                command=as_list(render(self.commands, "commands"), "commands") or None,
                entrypoint=as_list(entry, "entryPoint") if entry is not None else None,
                env=env,
                volumes=[f"{workdir}:{CONTAINER_WORKDIR}",
                         *as_list(render(self.volumes, "volumes"), "volumes")],
                working_dir=CONTAINER_WORKDIR,
                network_mode=ctx.render_str(self.networkMode, "networkMode") if self.networkMode else None,
                user=ctx.render_str(self.user, "user") if self.user else None,
                cpus=float(cpu.get("cpus")) if isinstance(cpu, dict) and cpu.get("cpus") else (float(cpu) if cpu and not isinstance(cpu, dict) else None),
                memory=memory.get("memory") if isinstance(memory, dict) else memory,
                pull_policy=str(ctx.render_str(self.pullPolicy, "pullPolicy")).upper(),
                port_bindings=as_list(render(self.portBindings, "portBindings"), "portBindings"),
                privileged=ctx.render_bool(self.privileged, "privileged"),
                credentials=render_credentials(ctx, self.credentials),
            )
            wait = ctx.render_bool(self.wait, "wait")
            handler = LineHandler(ctx)
            client = docker_client(ctx, self.host)
            try:
                code, cid = run_container(ctx, client, spec, handler, wait=wait, delete=wait)
            finally:
                client.close()
            if not wait:
                return {"containerId": cid, "vars": {}, "exitCode": None}
            outputs: dict[str, Any] = {"vars": handler.vars, "exitCode": code,
                                       "stdOutLineCount": handler.stdout_lines, "stdErrLineCount": handler.stderr_lines}
            if code != 0:
                raise TaskFailed(f"container exited with code {code}", outputs={**outputs, "outputFiles": {}})
            outputs["outputFiles"] = helper._collect_outputs(ctx, render, workdir, output_dir)
            if handler.stderr_lines and ctx.render_bool(self.warningOnStdErr, "warningOnStdErr"):
                ctx.warn(f"{handler.stderr_lines} line(s) written to stderr (warningOnStdErr is true)")
            return outputs
        finally:
            shutil.rmtree(output_dir, ignore_errors=True)
