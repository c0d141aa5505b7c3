"""``io.kestra.plugin.docker.cli.Compose``: run Docker Compose v2 for a run-scoped project.

``composeFile``/``composeFiles``: inline YAML, a path in the working directory or a ``kestra://``
URI. ``composeArgs`` default ``[up, -d]`` (add ``--wait`` for healthcheck readiness).
``projectName`` defaults to ``kd-<flow>-<execution id>``: every Compose task of a run addresses
the same stack, parallel runs never collide. The stack is torn down (``down -v --remove-orphans``)
when ``up`` fails (an unhealthy ``--wait`` included) or the task is stopped, and — unless
``autoTeardown: false`` — when the run's process ends without a teardown (watchdog), at the
next Compose task's start for stacks whose run died, and at the end of the run (compiler hook
``_compose.teardown_execution``). Outputs: ``projectName``, ``exitCode``, ``vars``, line counts.

As in Kestra (where Compose is an exec-script task), ``taskRunner`` chooses where the ``docker
compose`` CLI runs: the Process runner runs this machine's Compose binary; the Docker runner
runs ``docker compose`` in a container of ``taskRunner.image`` or ``containerImage`` (Kestra's
default ``docker:27.5.1-cli``), which reaches the daemon through the socket the runner mounts
(``volumes: [/var/run/docker.sock:/var/run/docker.sock]``). ``beforeCommands`` run first in
the same shell (``interpreter``), ``env`` is the CLI's environment. A Compose task that names no
runner runs this machine's binary: Kestra's default Docker runner, which mounts no socket,
could not reach a daemon.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import yaml

from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.docker import _compose
from kestra_dagster.sdk.docker import docker_client, run_labels
from kestra_dagster.sdk.process import LineHandler
from kestra_dagster.sdk.values import as_list, as_text
from kestra_dagster.tasks.scripts._docker_runner import DockerRunner, wants_docker
from kestra_dagster.tasks.scripts._exec import HIDDEN_PREFIX, TaskRunnerConfig


class Compose(RunnableTask):
    """Run ``docker compose <composeArgs>`` on a project scoped to the run, torn down on every exit path."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.docker.cli.Compose"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.docker.Compose",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "compose"

    composeFile: str | dict[str, Any] | None = None
    composeFiles: list[str | dict[str, Any]] | None = None
    composeArgs: list[str] | str = ["up", "-d"]
    projectName: str | None = None
    env: dict[str, Any] | None = None
    autoTeardown: bool | str = True
    #: Kestra's Compose ``DEFAULT_IMAGE``: the Docker runner's image for the CLI.
    containerImage: str | None = "docker:27.5.1-cli"
    taskRunner: TaskRunnerConfig | None = None
    beforeCommands: list[str] | str | None = None
    interpreter: list[str] | str = ["/bin/sh", "-c"]
    host: str | None = None
    inputFiles: dict[str, Any] | str | None = None

    @classmethod
    def on_execution_end(cls, tasks: list["Compose"], execution_id: str, log) -> None:
        """When the execution ends, tear down its stacks still up (unless every task opted out)."""
        if all(task.autoTeardown is False or str(task.autoTeardown).lower() == "false" for task in tasks):
            return
        for project in _compose.teardown_execution(execution_id, log=log):
            log.info(f"compose project {project} torn down at the end of the execution")

    def run(self, ctx) -> dict[str, Any]:
        from kestra_dagster.sdk.process import run_process

        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        in_container = self.taskRunner is not None and wants_docker(self, ctx)
        try:
            binary = _compose.compose_binary()
        except FileNotFoundError as exc:
            if not in_container:  # in a container the image brings `docker compose`
                raise TaskFailed(str(exc)) from None
            binary = []
        args = as_list(ctx.render(self.composeArgs, "composeArgs"), "composeArgs") or ["up", "-d"]
        project = ctx.render_str(self.projectName, "projectName") if self.projectName else \
            _compose.project_name(ctx.namespace, ctx.flow_id, ctx.execution_id, ctx.task_id)
        auto = ctx.render_bool(self.autoTeardown, "autoTeardown")
        env = dict(os.environ)
        env.update({str(k): as_text(v) for k, v in (ctx.render(self.env, "env") or {}).items()})
        if self.host:
            env["DOCKER_HOST"] = ctx.render_str(self.host, "host")
        before = as_list(ctx.render(self.beforeCommands, "beforeCommands"), "beforeCommands")
        # In a container, the files must be under the working directory (bind-mounted at the same path).
        scratch = Path(tempfile.mkdtemp(prefix=f"{HIDDEN_PREFIX}compose-" if in_container else "kestra-compose-",
                                        dir=workdir if in_container else None))
        client = docker_client(ctx, self.host)
        is_up = bool(args) and args[0] in ("up", "start", "run", "create")
        started_stack = False
        try:
            if self.inputFiles:
                from kestra_dagster.tasks.scripts._exec import AbstractExecScript

                AbstractExecScript.model_construct(inputFiles=self.inputFiles)._write_input_files(
                    ctx, lambda v, p: ctx.render(v, p), workdir)
            if auto:
                try:
                    _compose.sweep_orphans(client, log=ctx.logger.info)
                except Exception as exc:  # noqa: BLE001 - housekeeping must not fail the task
                    ctx.logger.warning(f"could not sweep compose stacks of dead runs: {exc}")
            files = self._compose_files(ctx, workdir, scratch, required=is_up)
            cli = ["docker", "compose"] if in_container else binary
            base = [*cli, "-p", project, *sum((["-f", str(f)] for f in files), [])]
            if is_up:
                override = self._label_override(ctx, base, workdir, env, scratch, files, in_container)
                if override is not None:
                    base += ["-f", str(override)]
            handler = LineHandler(ctx)
            ctx.logger.info(f"compose project {project}: {' '.join(args)}")
            command = [*base, *args]
            if before or in_container:
                # one shell runs beforeCommands then the CLI, as Kestra's exec-script tasks do
                interpreter = as_list(ctx.render(self.interpreter, "interpreter"), "interpreter") or ["/bin/sh", "-c"]
                script = "\n".join(["set -e", *before, " ".join(shlex.quote(a) for a in command)])
                command = [*interpreter, script]
            runner = DockerRunner(self, ctx) if in_container else run_process
            try:
                code = runner(command, workdir, env, ctx, handler)
            except TaskKilled:
                if is_up and auto:
                    ctx.logger.warning(f"tearing down compose project {project}: the task was stopped")
                    _compose.down(project, env=env, log=ctx.logger.info)
                raise
            started_stack = is_up and code == 0
            outputs = {"projectName": project, "exitCode": code, "vars": handler.vars,
                       "stdOutLineCount": handler.stdout_lines, "stdErrLineCount": handler.stderr_lines}
            if code != 0:
                if is_up and auto:
                    ctx.logger.warning(f"compose {args[0]} failed: tearing down project {project}")
                    _compose.down(project, env=env, log=ctx.logger.info)
                raise TaskFailed(f"docker compose {' '.join(args)} failed with exit code {code}", outputs=outputs)
            if started_stack:
                outputs["ports"], outputs["endpoints"] = published_ports(client, project)
                if auto:
                    pid = _compose.start_watchdog(project, os.getpid(), env)
                    ctx.logger.debug(f"teardown watchdog {pid} watches project {project}")
            return outputs
        finally:
            client.close()
            shutil.rmtree(scratch, ignore_errors=True)

    # ------------------------------------------------------------------ pieces
    def _compose_files(self, ctx, workdir: Path, scratch: Path, required: bool = True) -> list[Path]:
        items: list[Any] = []
        if self.composeFile is not None:
            items.append(self.composeFile)
        items += list(self.composeFiles or [])
        if not items:
            for name in ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"):
                if (workdir / name).is_file():
                    return [workdir / name]
            if not required:  # down, ps, logs, exec…: the project name is enough
                return []
            raise TaskFailed("set composeFile or composeFiles (inline YAML, a file in the working directory or kestra://)")
        out = []
        for n, item in enumerate(items):
            value = ctx.render(item, "composeFile")
            if isinstance(value, dict):
                path = scratch / f"compose-{n}.yaml"
                path.write_text(yaml.safe_dump(value, sort_keys=False))
            elif isinstance(value, str) and value.strip().lower().startswith("kestra://"):
                path = scratch / f"compose-{n}.yaml"
                path.write_bytes(ctx.storage.read_bytes(value.strip()))
            elif isinstance(value, str) and "\n" not in value.strip() and (workdir / value.strip()).is_file():
                path = workdir / value.strip()
            else:
                path = scratch / f"compose-{n}.yaml"
                path.write_text(str(value))
            out.append(path)
        return out

    def _label_override(self, ctx, base: list[str], workdir: Path, env: dict, scratch: Path,
                        files: list[Path] = (), in_container: bool = False) -> Path | None:
        import subprocess

        if in_container:  # no Compose here to ask: the services are the files' `services` keys
            services = []
            for f in files:
                try:
                    doc = yaml.safe_load(f.read_text()) or {}
                except yaml.YAMLError as exc:
                    raise TaskFailed(f"invalid compose file {f.name}: {exc}") from None
                services += [s for s in (doc.get("services") or {}) if s not in services]
        else:
            proc = subprocess.run([*base, "config", "--services"], cwd=workdir, env=env, capture_output=True,
                                  text=True, timeout=120)
            if proc.returncode != 0:
                raise TaskFailed("invalid compose file: " + ctx.mask(proc.stderr.strip()[-1500:]))
            services = [s for s in proc.stdout.split() if s.strip()]
        if not services:
            return None
        labels = {**run_labels(ctx), _compose.LABEL_OWNER_PID: str(os.getpid()),
                  _compose.LABEL_OWNER_HOST: socket.gethostname()}
        path = scratch / "kestra-labels.override.yaml"
        path.write_text(yaml.safe_dump({"services": {s: {"labels": labels} for s in services}}))
        return path


def published_ports(client, project: str) -> tuple[dict, dict]:
    """({service: {"8080/tcp": "127.0.0.1:32768"}}, {service: first "host:port"}) of the project."""
    ports: dict[str, dict[str, str]] = {}
    endpoints: dict[str, str] = {}
    for c in client.api.containers(filters={"label": f"{_compose.LABEL_PROJECT}={project}"}):
        service = (c.get("Labels") or {}).get("com.docker.compose.service", c["Id"][:12])
        for p in sorted(c.get("Ports") or [], key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""))):
            if not p.get("PublicPort"):
                continue
            host = p.get("IP") or "127.0.0.1"
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            value = f"{host}:{p['PublicPort']}"
            ports.setdefault(service, {}).setdefault(f"{p['PrivatePort']}/{p.get('Type', 'tcp')}", value)
            endpoints.setdefault(service, value)
    return ports, endpoints
