"""What the dbt tasks share: where ``dbt`` is, the environment it needs offline, and running a
dbt command as a script task then reading its artifacts (even when dbt failed)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks._run_state import run_state
from kestra_dagster.tasks.dbt._logs import DbtLineHandler
from kestra_dagster.tasks.dbt._results import parse_artifacts
from kestra_dagster.tasks.scripts._docker_runner import wants_docker
from kestra_dagster.tasks.scripts._exec import AbstractExecScript, _inside


def dbt_bin_dir() -> str | None:
    """The folder holding our ``dbt`` (PyPI dbt-core next to our Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.is_file():
        return str(beside.parent)
    found = shutil.which("dbt")
    return str(Path(found).parent) if found else None


def dbt_env(env: dict[str, str], local: bool = True) -> None:
    """dbt without its network calls (usage statistics, version check) and with unbuffered logs;
    ``local``: our dbt first on PATH (not in a container, which has its own)."""
    folder = dbt_bin_dir() if local else None
    if folder:
        env["PATH"] = folder + os.pathsep + env.get("PATH", os.defpath)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DBT_VERSION_CHECK", "false")
    env.setdefault("DBT_USE_COLORS", "false")
    env["PYTHONUNBUFFERED"] = "true"
    env["PIP_ROOT_USER_ACTION"] = "ignore"


class DbtScript(AbstractExecScript):
    """A dbt task run as a script: artifacts parsed after the run, failed nodes named in the error."""

    kestra_family: ClassVar[str] = "dbt"
    compute_kind: ClassVar[str | None] = "dbt"

    parseRunResults: bool | str = True

    def line_handler(self, ctx):
        handler = run_state(ctx)["handler"] = DbtLineHandler(ctx)
        return handler

    def project_dir(self, ctx) -> Path:
        raise NotImplementedError

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        super().prepare(ctx, workdir, env)
        local = not wants_docker(self, ctx)
        if local and dbt_bin_dir() is None:
            raise TaskFailed("the dbt command is not installed: pip install dbt-core and your adapter "
                             "(e.g. dbt-duckdb, dbt-postgres)")
        dbt_env(env, local)

    def run(self, ctx) -> dict[str, Any]:
        state = run_state(ctx)
        state["handler"] = None
        failure: TaskFailed | None = None
        try:
            outputs = super().run(ctx)
        except TaskFailed as exc:
            if exc.outputs is None:
                raise
            failure, outputs = exc, dict(exc.outputs)
        project = self.project_dir(ctx)
        results = parse_artifacts(ctx, project, ctx.render_bool(self.parseRunResults, "parseRunResults"), outputs)
        handler = state.get("handler")
        warning = bool(handler and handler.warning_detected)
        outputs["warningDetected"] = warning
        if failure is not None:
            failed = [f"{uid} ({r['message']})" if r.get("message") else uid
                      for uid, r in results.items() if r["state"] == "FAILED"]
            said = handler.last_error if handler else None
            if failed:
                detail = f"; failed: {', '.join(failed)}"
            elif said:
                said = " ".join(said.split())
                detail = f" in project {project}: {said[:400]}"
            else:
                detail = f" in project {project}; see the dbt log lines above"
            raise TaskFailed(ctx.mask(f"dbt: {failure}{detail}"), outputs=outputs)
        if warning:
            ctx.warn("dbt reported warnings")
        return outputs

    def write_profiles(self, ctx, folder: Path, profiles: Any, prop: str = "profiles") -> None:
        if profiles is None:
            return
        rendered = ctx.render(profiles, prop)
        if isinstance(rendered, dict):
            import yaml

            rendered = yaml.safe_dump(rendered, sort_keys=False)
        if not isinstance(rendered, str):
            raise TaskFailed(f"property '{prop}' must be YAML text or a map")
        if not rendered.strip():
            return
        target = folder / "profiles.yml"
        if target.exists():
            ctx.logger.info(f"A 'profiles.yml' file already exists in {folder}; it is overridden by '{prop}'")
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered, encoding="utf-8")

    def resolve_project(self, ctx, value: str | None) -> Path:
        workdir = Path(ctx.working_dir)
        if not value:
            return workdir
        return _inside(workdir, ctx.render_str(value, "projectDir").strip(), "projectDir")
