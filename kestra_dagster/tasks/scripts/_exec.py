"""What every script task shares: Kestra's ``AbstractExecScript`` properties and its run.

A concrete task (``shell.Commands``, ``python.Script``…) only says which command lines to run
(``body_commands``) and may add environment variables; this module prepares the working
directory (``inputFiles``, ``namespaceFiles``, ``kestra://`` URIs used in commands), builds
``interpreter + [beforeCommands + commands joined by newlines]`` (with ``set -e`` first when
``failFast`` and the interpreter is a POSIX shell), runs it with the Process runner
(``_process.run_process``) and collects ``ScriptOutput``: ``vars``, ``exitCode``,
``outputFiles``, ``stdOutLineCount``, ``stdErrLineCount``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict

from kestra_dagster.engine.envs import task_process_environ
from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.safe_files import UnsafePathError, open_inside, store_inside, walk_files
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.process import LineHandler, run_process
from kestra_dagster.sdk.values import as_list, as_text, glob_regex  # noqa: F401 - re-exported
from kestra_dagster.tasks.scripts._docker_runner import select_runner, wants_docker

PROCESS_RUNNER = "io.kestra.plugin.core.runner.Process"
PROCESS_RUNNER_TYPES = {
    PROCESS_RUNNER,
    "io.kestra.core.models.tasks.runners.types.ProcessTaskRunner",
    "io.kestra.plugin.scripts.runner.process.Process",
}
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox"}
#: Names of the helper folders we create in the working directory; never collected as outputs.
HIDDEN_PREFIX = ".kestra-"
#: Longer command scripts are sourced from a file rather than passed as one argument.
MAX_INLINE_SCRIPT = 100_000
_STORAGE_URI = re.compile(r"kestra://[^\s\"'`<>|;&(){}\[\],]+")




#: Where Kestra's ``executionContext: true`` puts the context (read by ``kestra.context``).
EXECUTION_CONTEXT_FILE = ".kestra-execution-context.json"
#: The variables it holds (``envs`` and ``globals`` reach the script as environment variables).
EXECUTION_CONTEXT_KEYS = ("inputs", "outputs", "labels", "vars", "trigger", "flow", "execution", "task", "taskrun")


def write_execution_context(ctx, workdir: Path) -> Path:
    """The execution's variables as JSON in the working directory (a reserved, never-collected name)."""
    variables = ctx.variables or {}
    data = {k: variables[k] for k in EXECUTION_CONTEXT_KEYS if k in variables}
    path = workdir / EXECUTION_CONTEXT_FILE
    path.write_text(json.dumps(data, default=str), encoding="utf-8")
    return path


def script_file(ctx, workdir: Path, suffix: str = ".py") -> Path:
    """Where an inline script of this task run is written (removed after the run)."""
    return workdir / f"{HIDDEN_PREFIX}script-{ctx.taskrun.id}{suffix}"


def _relative_files(root: Path, skip_hidden_helpers: bool = True, refused=None) -> list[str]:
    """Regular files under ``root``; links leaving it are never listed (see kestra_dagster.safe_files)."""
    hidden = (lambda name: name.startswith(HIDDEN_PREFIX)) if skip_hidden_helpers else None
    return walk_files(root, skip_dir=hidden, skip_file=hidden, refused=refused)


def _inside(root: Path, name: str, prop: str) -> Path:
    target = (root / name).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise TaskFailed(f"{prop} entry {name!r} points outside the working directory")
    return target


# --------------------------------------------------------------------------- models
class NamespaceFiles(KestraModel):
    enabled: bool | str = True
    include: list[str] | None = None
    exclude: list[str] | None = None
    ifExists: Literal["OVERWRITE", "FAIL", "WARN", "IGNORE"] | str = "OVERWRITE"
    folderPerNamespace: bool | str = False
    namespaces: list[str] | None = None


class TaskRunnerConfig(KestraModel):
    """``taskRunner: {type: …, …}``; runner-specific properties are kept as they are."""

    model_config = ConfigDict(extra="allow")
    type: str


class AbstractExecScript(RunnableTask):
    """Kestra's ``AbstractExecScript``; subclasses implement ``body_commands``."""

    kestra_family: ClassVar[str] = "scripts"
    compute_kind: ClassVar[str | None] = "shell"
    #: Kestra's ``DEFAULT_IMAGE`` for this type: the Docker runner's image when the task names none.
    default_image: ClassVar[str | None] = None
    #: Environment every run of this task type gets (python: PYTHONUNBUFFERED…).
    default_env: ClassVar[dict[str, str]] = {}

    taskRunner: TaskRunnerConfig | None = None
    runner: Literal["PROCESS", "DOCKER"] | None = None  # deprecated
    docker: dict[str, Any] | None = None  # deprecated DockerOptions
    containerImage: str | None = None
    beforeCommands: list[str] | str | None = None
    env: dict[str, Any] | None = None
    warningOnStdErr: bool | str = False
    interpreter: list[str] | str = ["/bin/sh", "-c"]
    failFast: bool | str = True
    namespaceFiles: NamespaceFiles | None = None
    inputFiles: dict[str, Any] | str | None = None
    outputFiles: list[str] | str | None = None
    outputDirectory: bool | str | None = None  # deprecated; the output dir always exists
    targetOS: Literal["AUTO", "LINUX", "WINDOWS"] | str = "AUTO"
    #: Kestra 1.x: write the execution's variables to ``.kestra-execution-context.json`` for the
    #: script (``from kestra import context``); off by default, as it may hold secret inputs.
    executionContext: bool | str = False

    # ------------------------------------------------------------ subclass API
    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        """The command lines to run after ``beforeCommands`` (rendered with ``render``)."""
        raise NotImplementedError

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        """Hook to adjust the working directory or the environment before running."""

    def line_handler(self, ctx) -> LineHandler:
        """Hook: what reads the command's output lines (dbt parses its JSON log lines)."""
        return LineHandler(ctx)

    # ------------------------------------------------------------ run
    def run(self, ctx) -> dict[str, Any]:
        self._check_runner(ctx)
        ctx.check_cancelled()
        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        output_dir = Path(tempfile.mkdtemp(prefix=f"{HIDDEN_PREFIX}outputs-", dir=workdir))
        extra = {"workingDir": str(workdir), "outputDir": str(output_dir)}

        def render(value: Any, prop: str) -> Any:
            return ctx.render(value, prop, extra=extra)

        try:
            if self.containerImage and not wants_docker(self, ctx):
                ctx.logger.debug(
                    f"containerImage {render(self.containerImage, 'containerImage')!r} is ignored: "
                    "the Process task runner runs commands on this machine"
                )
            self._write_input_files(ctx, render, workdir)
            self._copy_namespace_files(ctx, render, workdir)
            if ctx.render_bool(self.executionContext, "executionContext"):
                write_execution_context(ctx, workdir)

            env = task_process_environ()  # never our own settings (database password, S3 key…)
            env.update(self.default_env)
            rendered_env = render(self.env, "env") if self.env else {}
            if not isinstance(rendered_env, dict):
                raise TaskFailed(f"property 'env' must be a map, got {type(rendered_env).__name__}")
            env.update({str(k): as_text(v) for k, v in rendered_env.items()})
            env["WORKING_DIR"] = str(workdir)
            env["OUTPUT_DIR"] = str(output_dir)
            self.prepare(ctx, workdir, env)

            interpreter = as_list(render(self.interpreter, "interpreter"), "interpreter")
            if not interpreter:
                raise TaskFailed("property 'interpreter' cannot be empty")
            before = as_list(render(self.beforeCommands, "beforeCommands"), "beforeCommands")
            commands = self.body_commands(ctx, render, workdir, env)
            if self._fail_fast(ctx, interpreter):
                before = ["set -e", *before]
            script = "\n".join(self._localize_uris(ctx, line, workdir) for line in [*before, *commands])
            ctx.logger.debug(f"running {interpreter} in {workdir}")

            args = [*interpreter, script]
            if len(script.encode("utf-8")) > MAX_INLINE_SCRIPT and Path(interpreter[0]).name in SHELLS:
                # one argv string is capped at 128 KiB on Linux: source a file instead
                path = script_file(ctx, workdir, ".sh")
                path.write_text(script, encoding="utf-8")
                args = [*interpreter, f". {shlex.quote(str(path))}"]
            handler = self.line_handler(ctx)
            exit_code = select_runner(self, ctx, run_process)(args, workdir, env, ctx, handler)
            outputs: dict[str, Any] = {
                "vars": handler.vars,
                "exitCode": exit_code,
                "stdOutLineCount": handler.stdout_lines,
                "stdErrLineCount": handler.stderr_lines,
            }
            if exit_code != 0:
                raise TaskFailed(f"Command failed with exit code {exit_code}", outputs={**outputs, "outputFiles": {}})
            outputs["outputFiles"] = self._collect_outputs(ctx, render, workdir, output_dir)
            if handler.stderr_lines and ctx.render_bool(self.warningOnStdErr, "warningOnStdErr"):
                ctx.warn(f"{handler.stderr_lines} line(s) written to stderr (warningOnStdErr is true)")
            return outputs
        finally:
            # helper files must not outlive the task (a WorkingDirectory could collect them)
            shutil.rmtree(output_dir, ignore_errors=True)
            for helper in (f"{HIDDEN_PREFIX}inputs", f"{HIDDEN_PREFIX}python"):
                shutil.rmtree(workdir / helper, ignore_errors=True)
            for suffix in (".py", ".sh", ".js"):
                script_file(ctx, workdir, suffix).unlink(missing_ok=True)
            # never left for a later task of the same WorkingDirectory
            (workdir / EXECUTION_CONTEXT_FILE).unlink(missing_ok=True)

    # ------------------------------------------------------------ pieces
    def _check_runner(self, ctx) -> None:
        if self.taskRunner is not None:
            kind = ctx.render_str(self.taskRunner.type, prop="taskRunner.type").strip()
            if kind in PROCESS_RUNNER_TYPES or kind.rsplit(".", 1)[-1] in ("Process", "ProcessTaskRunner"):
                return
            if ".docker." in kind.lower() or kind.rsplit(".", 1)[-1].lower().startswith("docker"):
                return  # _docker_runner.select_runner runs it
            raise TaskFailed(
                f"task runner {kind} is not available; use taskRunner: {{type: {PROCESS_RUNNER}}}"
            )
        if self.runner == "DOCKER":
            return  # _docker_runner.select_runner runs it

    def _fail_fast(self, ctx, interpreter: list[str]) -> bool:
        if not ctx.render_bool(self.failFast, "failFast"):
            return False
        if str(ctx.render_str(self.targetOS, prop="targetOS")).upper() == "WINDOWS":
            return False
        # `set -e` only means something to a POSIX shell (Kestra adds it blindly)
        return Path(interpreter[0]).name in SHELLS

    def _write_input_files(self, ctx, render, workdir: Path) -> None:
        if self.inputFiles is None:
            return
        files = render(self.inputFiles, "inputFiles")
        if isinstance(files, str):
            try:
                files = json.loads(files) if files.strip() else {}
            except ValueError as exc:
                raise TaskFailed(f"property 'inputFiles' must be a map or a JSON object string: {exc}") from None
        if not isinstance(files, dict):
            raise TaskFailed(f"property 'inputFiles' must be a map, got {type(files).__name__}")
        for name, content in files.items():
            target = _inside(workdir, str(name), "inputFiles")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str) and content.strip().lower().startswith("kestra://"):
                shutil.copyfile(ctx.storage.local_path(content.strip()), target)
            else:
                target.write_text(as_text(content), encoding="utf-8")

    def _copy_namespace_files(self, ctx, render, workdir: Path) -> None:
        spec = self.namespaceFiles
        if spec is None or not ctx.render_bool(spec.enabled, "namespaceFiles.enabled"):
            return
        from kestra_dagster.namespace_files import namespace_files_root

        root = namespace_files_root()  # the same store `kestra_dagster.namespace_files sync` writes
        namespaces = as_list(render(spec.namespaces, "namespaceFiles.namespaces"), "namespaceFiles.namespaces") \
            if spec.namespaces else [ctx.namespace]
        include = [glob_regex(p) for p in as_list(render(spec.include, "namespaceFiles.include"), "namespaceFiles.include")]
        exclude = [glob_regex(p) for p in as_list(render(spec.exclude, "namespaceFiles.exclude"), "namespaceFiles.exclude")]
        if_exists = str(render(spec.ifExists, "namespaceFiles.ifExists")).upper()
        per_ns = ctx.render_bool(spec.folderPerNamespace, "namespaceFiles.folderPerNamespace")
        copied = 0
        for namespace in namespaces:
            source = root / namespace
            if not source.is_dir():
                ctx.logger.debug(f"no namespace files for namespace {namespace!r} ({source} does not exist)")
                continue
            for rel in _relative_files(source, skip_hidden_helpers=False, refused=_warn_refused(ctx)):
                if include and not any(rx.match(rel) for rx in include):
                    continue
                if any(rx.match(rel) for rx in exclude):
                    continue
                target = _inside(workdir, f"{namespace}/{rel}" if per_ns else rel, "namespaceFiles")
                if target.exists():
                    if if_exists == "FAIL":
                        raise TaskFailed(f"namespace file {rel!r} already exists in the working directory (ifExists: FAIL)")
                    if if_exists == "IGNORE":
                        continue
                    if if_exists == "WARN":
                        ctx.logger.warning(f"namespace file {rel!r} already exists in the working directory; kept")
                        continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with open_inside(source, rel) as fd, os.fdopen(os.dup(fd), "rb") as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1024 * 1024)
                except UnsafePathError as exc:
                    ctx.logger.warning(f"namespace file not copied: {exc}")
                    continue
                copied += 1
        ctx.logger.debug(f"{copied} namespace file(s) copied into the working directory")

    def _localize_uris(self, ctx, line: str, workdir: Path) -> str:
        """Replace ``kestra://`` URIs in a command with a local copy in the working directory."""

        def local(match: re.Match) -> str:
            uri = match.group(0)
            try:
                source = ctx.storage.local_path(uri)
            except Exception as exc:
                raise TaskFailed(f"cannot use {uri} in the command: {exc}") from None
            folder = workdir / f"{HIDDEN_PREFIX}inputs" / hashlib.sha1(uri.encode()).hexdigest()[:12]
            # our own copy: a shell-safe name, so unquoted use in a command works
            target = folder / (re.sub(r"[^A-Za-z0-9._-]", "_", source.name) or "file")
            if not target.exists():
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            return str(target)

        return _STORAGE_URI.sub(local, line) if "kestra://" in line else line

    def _collect_outputs(self, ctx, render, workdir: Path, output_dir: Path) -> dict[str, str]:
        found: dict[str, str] = {}
        patterns = as_list(render(self.outputFiles, "outputFiles"), "outputFiles") if self.outputFiles else []
        if patterns:
            regexes = [glob_regex(p) for p in patterns]
            refused: list[tuple[str, str]] = []
            files = _relative_files(workdir, refused=lambda rel, why: refused.append((rel, why)))
            for rel, why in refused:
                if any(rx.match(rel) for rx in regexes):
                    ctx.logger.warning(f"output file {rel!r} not collected: {why}")
            for rel in files:
                if any(rx.match(rel) for rx in regexes):
                    found[rel] = _store(ctx, workdir, rel)
            for pattern, rx in zip(patterns, regexes):
                if not any(rx.match(rel) for rel in files):
                    ctx.logger.warning(f"outputFiles pattern {pattern!r} matched no file")
        for rel in _relative_files(output_dir, skip_hidden_helpers=False, refused=_warn_refused(ctx)):
            found[rel] = _store(ctx, output_dir, rel)
        return found


def _warn_refused(ctx):
    def warn(rel: str, reason: str) -> None:
        ctx.logger.warning(f"output file {rel!r} not collected: {reason}")

    return warn


def _store(ctx, root: Path, rel: str) -> str:
    try:
        return store_inside(ctx.storage, root, rel)
    except UnsafePathError as exc:
        raise TaskFailed(f"output file refused: {exc}") from None
