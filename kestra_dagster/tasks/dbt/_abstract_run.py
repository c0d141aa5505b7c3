"""Kestra's older dbt tasks (``AbstractDbt``/``AbstractRun``): one dbt command built from properties.

The command is ``<dbtPath> --log-format json [--debug] [--fail-fast] [--warn-error] <command>
[--profiles-dir <workingDir>/.profile] [--threads N] [--full-refresh] [--target T] [--selector S]
[--select …] [--exclude …] --project-dir <workingDir>/<projectDir>``. ``dbtPath`` defaults to
``./bin/dbt`` (what ``dbt.cli.Setup`` makes in a WorkingDirectory); when that file is not there
the ``dbt`` installed with kestra-dagster runs. ``profiles`` is written to ``.profile/profiles.yml``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.tasks.dbt._common import DbtScript
from kestra_dagster.sdk.values import as_list


class AbstractDbt(DbtScript):
    """Not a task itself: ``dbt_command()`` says which dbt command to run."""

    failFast: bool | str = False
    warnError: bool | str = False
    debug: bool | str = False
    projectDir: str | None = None
    dbtPath: str = "./bin/dbt"
    profiles: str | dict[str, Any] | None = None
    containerImage: str | None = "ghcr.io/kestra-io/dbt"
    dockerOptions: dict[str, Any] | None = None

    def dbt_args(self, ctx, workdir: Path) -> list[str]:
        raise NotImplementedError

    def project_dir(self, ctx) -> Path:
        return self.resolve_project(ctx, self.projectDir)

    def _fail_fast(self, ctx, interpreter: list[str]) -> bool:
        return False  # failFast is dbt's --fail-fast here, not `set -e`

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        super().prepare(ctx, workdir, env)
        self.write_profiles(ctx, workdir / ".profile", self.profiles)

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        dbt = ctx.render_str(self.dbtPath, "dbtPath") or "dbt"
        if not (workdir / dbt).is_file() and dbt == "./bin/dbt":
            dbt = "dbt"  # no Setup venv in this working directory: the dbt installed with us
        parts = [dbt, "--log-format", "json"]
        for prop, flag in (("debug", "--debug"), ("failFast", "--fail-fast"), ("warnError", "--warn-error")):
            if ctx.render_bool(getattr(self, prop), prop):
                parts.append(flag)
        parts += self.dbt_args(ctx, workdir)
        parts += ["--project-dir", str(self.project_dir(ctx))]
        return [" ".join(shlex.quote(p) for p in parts)]


class AbstractRun(AbstractDbt):
    """``build``/``run``/``test``…: selection, target, threads, full refresh."""

    dbt_command: ClassVar[str] = ""

    thread: int | str | None = None
    fullRefresh: bool | str = False
    target: str | None = None
    selector: str | None = None
    select: list[str] | str | None = None
    exclude: list[str] | str | None = None

    def dbt_args(self, ctx, workdir: Path) -> list[str]:
        args = [self.dbt_command]
        if (workdir / ".profile" / "profiles.yml").is_file():
            args += ["--profiles-dir", str(workdir / ".profile")]
        if self.thread is not None:
            args += ["--threads", str(ctx.render_str(self.thread, "thread"))]
        if ctx.render_bool(self.fullRefresh, "fullRefresh"):
            args.append("--full-refresh")
        if self.target:
            args += ["--target", ctx.render_str(self.target, "target")]
        if self.selector:
            args += ["--selector", ctx.render_str(self.selector, "selector")]
        for prop in ("select", "exclude"):
            values = as_list(ctx.render(getattr(self, prop), prop), prop) if getattr(self, prop) else []
            if values:
                args += [f"--{prop}", *values]
        return args
