"""``io.kestra.plugin.dbt.cli.DbtCLI``: run dbt commands on a dbt project in the working directory.

The project comes from ``namespaceFiles``, ``inputFiles`` or earlier tasks of a WorkingDirectory
(``projectDir`` is its folder there); ``profiles`` is written as ``profiles.yml`` in the working
directory, where dbt looks first. As in Kestra, every command starting with ``dbt`` gets
``--project-dir <projectDir>`` (when set), ``--log-format json`` (``logFormat``) and ``--log-path
logs``; dbt's JSON log lines are logged at their level, and a warning ends the task WARNING.
Afterwards (also when dbt failed) ``target/manifest.json`` and ``target/run_results.json`` are
stored (``outputFiles``) and, with ``parseRunResults``, turned into per-node ``results``, a Markdown
table ``resultsMarkdown`` and one asset materialization per model built (see ``_results``).
``storeManifest``/``loadManifest`` keep the manifest in the KV store (for ``--state`` / ``--defer``).
Kestra's default runner is a Docker image; here the scripts family's runner choice applies and the
``dbt`` installed next to kestra-dagster runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.dbt._common import DbtScript
from kestra_dagster.sdk.values import as_list


class KvStoreManifest(KestraModel):
    key: str
    namespace: str


class DbtCLI(DbtScript):
    """Run dbt commands (``dbt deps``, ``dbt build``…) on a project; per-model results as outputs."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.dbt.cli.DbtCLI"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    commands: list[str] | str
    profiles: str | dict[str, Any] | None = None
    projectDir: str | None = None
    containerImage: str | None = "ghcr.io/kestra-io/dbt"
    storeManifest: KvStoreManifest | None = None
    loadManifest: KvStoreManifest | None = None
    logFormat: Literal["JSON", "TEXT", "DEBUG", "NONE"] | str = "JSON"
    engine: Literal["CORE", "FUSION"] | str = "CORE"

    def project_dir(self, ctx) -> Path:
        return self.resolve_project(ctx, self.projectDir)

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        super().prepare(ctx, workdir, env)
        if str(ctx.render_str(self.engine, "engine")).upper() == "FUSION":
            raise TaskFailed("engine FUSION (dbt Fusion) is not available here: use engine CORE")
        project = self.project_dir(ctx)
        if not project.is_dir():
            raise TaskFailed(f"projectDir {self.projectDir!r} is not a folder of the working directory "
                             "(bring the project in with namespaceFiles or inputFiles)")
        ctx.logger.info(f"dbt project working directory: {project}")
        self.write_profiles(ctx, workdir, self.profiles)
        if self.loadManifest is not None:
            self._load_manifest(ctx, project)

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        commands = as_list(render(self.commands, "commands"), "commands")
        log_format = str(ctx.render_str(self.logFormat, "logFormat")).upper()
        if log_format not in ("JSON", "TEXT", "DEBUG", "NONE"):
            raise TaskFailed(f"property 'logFormat' must be JSON, TEXT, DEBUG or NONE, got {log_format!r}")
        project = ctx.render_str(self.projectDir, "projectDir").strip() if self.projectDir else None
        out = []
        for command in commands:
            if command.startswith("dbt"):
                if project and "--project-dir" not in command:
                    command += f" --project-dir {project}"
                if log_format != "NONE" and "--log-format" not in command:
                    command += f" --log-format {log_format.lower()}"
                if "--log-path" not in command:
                    command += " --log-path logs"
            out.append(command)
        return out

    def run(self, ctx) -> dict[str, Any]:
        outputs = super().run(ctx)
        if self.storeManifest is not None:
            manifest = self.project_dir(ctx) / "target" / "manifest.json"
            if manifest.is_file():
                namespace = ctx.render_str(self.storeManifest.namespace, "storeManifest.namespace")
                key = ctx.render_str(self.storeManifest.key, "storeManifest.key")
                ctx.kv.set(namespace, key, json.loads(manifest.read_text(encoding="utf-8")))
                ctx.logger.info(f"manifest stored in KV {namespace}/{key}")
        return outputs

    def _load_manifest(self, ctx, project: Path) -> None:
        namespace = ctx.render_str(self.loadManifest.namespace, "loadManifest.namespace")
        key = ctx.render_str(self.loadManifest.key, "loadManifest.key")
        value = ctx.kv.get(namespace, key)
        if value in (None, ""):
            ctx.logger.warning("Property `loadManifest` is set but no manifest was found in the KV store "
                               f"({namespace}/{key})")
            return
        target = project / "target" / "manifest.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
