"""``io.kestra.plugin.docker.cli.Build``: build an image, optionally push it, output its digests.

The build runs through the docker CLI (``docker build``, classic builder, ``--force-rm``) in the
task's working directory, so its log streams line by line into the event log, and stopping the
task (timeout, run termination) kills the CLI: the daemon cancels the build and removes its
intermediate container. Outputs: ``imageId`` (``sha256:…``), ``tags`` and, when pushed,
``digest`` (of the first tag), ``digests`` (per tag) and ``repoDigests`` (``repo@sha256:…``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import (
    ASSET_KEY,
    Credentials,
    image_events,
    docker_cli,
    docker_client,
    docker_config_dir,
    push_tags,
    render_credentials,
    repo_digests,
    strip_scheme,
)
from kestra_dagster.tasks.scripts._exec import NamespaceFiles
from kestra_dagster.sdk.process import ToolLog
from kestra_dagster.sdk.values import as_list


#: The legacy builder's advice to install buildx: logged at debug, not as build output.
BUILDX_NOISE = ("DEPRECATED: The legacy builder", "BuildKit is currently disabled", "Install the buildx component",
                "https://docs.docker.com/go/buildx")


def buildx_available(cli: str) -> bool:
    try:
        proc = subprocess.run([cli, "buildx", "version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


class Build(RunnableTask):
    """Build a Docker image from a Dockerfile (inline or a file in the working directory)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.docker.cli.Build"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.docker.Build",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "docker"

    dockerfile: str
    tags: list[str] | str
    buildArgs: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    target: str | None = None
    platforms: list[str] | str | None = None
    pull: bool | str = True
    push: bool | str = False
    host: str | None = None
    config: dict[str, Any] | str | None = None
    credentials: Credentials | None = None
    inputFiles: dict[str, Any] | str | None = None
    namespaceFiles: NamespaceFiles | None = None

    def run(self, ctx) -> dict[str, Any]:
        from kestra_dagster.sdk.process import run_process

        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        self._prepare_files(ctx, workdir)
        tags = [strip_scheme(t) for t in as_list(ctx.render(self.tags, "tags"), "tags") if str(t).strip()]
        if not tags:
            raise TaskFailed("property 'tags' needs at least one tag")
        platforms = [p.strip() for p in as_list(ctx.render(self.platforms, "platforms"), "platforms")
                     for p in p.split(",") if p.strip()] if self.platforms else []
        cli = docker_cli()
        if len(platforms) > 1 and not buildx_available(cli):
            raise TaskFailed(
                f"a multi-platform build ({', '.join(platforms)}) needs docker buildx, which is not installed "
                "for this docker CLI; install buildx or build one platform per task (we never fall back to a "
                "single-architecture build silently)"
            )
        if len(platforms) > 1:
            raise TaskFailed("multi-platform builds through buildx are not supported by this task yet: "
                             "build one platform per task and assemble an index")
        creds = render_credentials(ctx, self.credentials)
        scratch = Path(tempfile.mkdtemp(prefix="kestra-build-"))
        config_dir = docker_config_dir(creds, ctx.render(self.config, "config") if self.config else None)
        try:
            dockerfile = self._dockerfile(ctx, workdir, scratch)
            iidfile = scratch / "iid"
            args = [cli, "build", "--force-rm", "--rm", "--iidfile", str(iidfile), "-f", str(dockerfile)]
            for tag in tags:
                args += ["-t", tag]
            for key, value in (ctx.render(self.buildArgs, "buildArgs") or {}).items():
                args += ["--build-arg", f"{key}={value}"]
            for key, value in (ctx.render(self.labels, "labels") or {}).items():
                args += ["--label", f"{key}={value}"]
            if self.target:
                args += ["--target", ctx.render_str(self.target, "target")]
            if platforms:
                args += ["--platform", platforms[0]]
            if ctx.render_bool(self.pull, "pull"):
                args.append("--pull")
            args.append(str(workdir))
            env = dict(os.environ)
            env["DOCKER_BUILDKIT"] = "0"  # classic builder: works with every CLI, no buildx needed
            env["DOCKER_CONFIG"] = str(config_dir)
            if self.host:
                env["DOCKER_HOST"] = ctx.render_str(self.host, "host")
            ctx.logger.info(f"building {', '.join(tags)} from {dockerfile.name if dockerfile.parent == workdir else 'inline Dockerfile'}")
            handler = ToolLog(ctx, keep=15, quiet=BUILDX_NOISE)
            code = run_process(args, workdir, env, ctx, handler)
            if code != 0:
                tail = "\n".join(handler.tail[-8:])
                raise TaskFailed(f"docker build failed with exit code {code}:\n{tail}")
            image_id = iidfile.read_text().strip()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(config_dir, ignore_errors=True)
        ctx.logger.info(f"built image {image_id} tagged {', '.join(tags)}")
        outputs: dict[str, Any] = {"imageId": image_id, "tags": tags}
        if ctx.render_bool(self.push, "push"):
            client = docker_client(ctx, self.host)
            try:
                digests = push_tags(ctx, client, tags, creds)
            finally:
                client.close()
            first = next(iter(digests.values()))
            outputs.update({"digest": first, "digests": digests, "repoDigests": repo_digests(digests)})
            outputs[ASSET_KEY] = image_events(ctx, digests, kind="build+push", extra={"imageId": image_id})
        return outputs

    # ------------------------------------------------------------------ pieces
    def _dockerfile(self, ctx, workdir: Path, scratch: Path) -> Path:
        text = ctx.render_str(self.dockerfile, "dockerfile")
        if "\n" not in text.strip() and len(text) < 4096:
            candidate = (workdir / text.strip())
            try:
                if candidate.is_file() and workdir.resolve() in candidate.resolve().parents:
                    return candidate
            except OSError:
                pass
        path = scratch / "Dockerfile"
        path.write_text(text if text.endswith("\n") else text + "\n")
        return path

    def _prepare_files(self, ctx, workdir: Path) -> None:
        """``inputFiles`` and ``namespaceFiles`` into the build context, as script tasks do."""
        from kestra_dagster.tasks.scripts._exec import AbstractExecScript

        helper = AbstractExecScript.model_construct(inputFiles=self.inputFiles, namespaceFiles=self.namespaceFiles)

        def render(value: Any, prop: str) -> Any:
            return ctx.render(value, prop)

        helper._write_input_files(ctx, render, workdir)
        helper._copy_namespace_files(ctx, render, workdir)


def image_json(client, image_id: str) -> dict:  # pragma: no cover - debugging helper
    return json.loads(json.dumps(client.api.inspect_image(image_id)))
