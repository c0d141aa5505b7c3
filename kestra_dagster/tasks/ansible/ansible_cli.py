"""``io.kestra.plugin.ansible.cli.AnsibleCLI``: run ``ansible-playbook`` (and other ansible
commands) on playbooks and inventories in the working directory.

As in Kestra, the working directory gets an ``ansible.cfg`` (``ansibleConfig``; unless
``inputFiles`` brings one) that enables the ``kestra_logger`` callback and silences Ansible's
default output, the callback itself and a silent stdout callback (``callback_plugins/``; Kestra's ``ansible.builtin.null`` needs the
community.general collection) and the ``kestra`` module
(``library/``) for explicit outputs. ``requirements.txt``/``requirements.yml`` present in the
working directory are installed first (``autoInstall…``). Each playbook's results come back as
Kestra's ``vars.outputs`` (every per-host result, or the ``kestra`` module's values with
``outputsMode: EXPLICIT``) and ``playbooks`` (plays → tasks → hosts with status and result);
one log line per task and host is written, and a failed or unreachable host names the task in
the error. Ansible's own state (``ANSIBLE_HOME``, local temp) stays in the working directory.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks._run_state import run_state
from kestra_dagster.tasks.scripts._docker_runner import wants_docker
from kestra_dagster.tasks.scripts._exec import HIDDEN_PREFIX
from kestra_dagster.sdk.process import LineHandler
from kestra_dagster.tasks.scripts.shell_commands import ShellCommands

DEFAULT_CONFIG = """[defaults]
log_path          = {{ workingDir }}/log
callback_plugins  = ./callback_plugins
callbacks_enabled = kestra_logger
stdout_callback   = kestra_quiet
result_format     = json
pretty_results    = true
library           = ./library
"""


@dataclass
class AnsibleLineHandler(LineHandler):
    """Merges the callback's output line of each playbook run (several commands → one list)."""

    results: list = field(default_factory=list)
    declared: dict = field(default_factory=dict)
    playbooks: list = field(default_factory=list)

    def _structured(self, payload: dict) -> bool:
        outputs = payload.get("outputs")
        if isinstance(outputs, dict) and "playbooks" in outputs:
            if isinstance(outputs.get("outputs"), list):
                self.results.extend(outputs["outputs"])
            elif isinstance(outputs.get("outputs"), dict):
                self.declared.update(outputs["outputs"])
            self.playbooks.extend(outputs.get("playbooks") or [])
            self._log_tasks(outputs.get("playbooks") or [])
            rest = {k: v for k, v in outputs.items() if k not in ("outputs", "playbooks")}
            if rest:
                self.vars.update(rest)
            return True
        return super()._structured(payload)

    def _log_tasks(self, playbooks: list) -> None:
        import json

        for playbook in playbooks:
            for play in playbook.get("plays") or []:
                for task in play.get("tasks") or []:
                    for host in task.get("hosts") or []:
                        text = json.dumps(host.get("result"), default=str)
                        if len(text) > 2000:
                            text = text[:2000] + "…"
                        line = self.ctx.mask(f"{task.get('uid')}: [{host.get('host')}] {host.get('status')} => {text}")
                        failed = host.get("status") in ("failed", "unreachable")
                        (self.ctx.logger.error if failed else self.ctx.logger.info)(line)


def failed_hosts(playbooks: list) -> list[str]:
    found = []
    for playbook in playbooks:
        for play in playbook.get("plays") or []:
            for task in play.get("tasks") or []:
                for host in task.get("hosts") or []:
                    if host.get("status") in ("failed", "unreachable"):
                        msg = (host.get("result") or {}).get("msg")
                        found.append(f"task '{task.get('uid')}' {host.get('status')} on {host.get('host')}"
                                     + (f": {msg}" if msg else ""))
    return found


class AnsibleCLI(ShellCommands):
    """Run ansible-playbook commands; per-task, per-host results as outputs (Kestra's callback format)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.ansible.cli.AnsibleCLI"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    kestra_family: ClassVar[str] = "ansible"
    compute_kind: ClassVar[str | None] = "ansible"

    containerImage: str | None = "cytopia/ansible:latest-tools"
    interpreter: list[str] | str = ["/bin/bash", "-c"]
    ansibleConfig: str | None = DEFAULT_CONFIG
    outputsMode: Literal["ALL", "EXPLICIT"] | str = "ALL"
    outputLogFile: bool | str = False
    autoInstallPythonRequirements: bool | str = True
    autoInstallGalaxyRequirements: bool | str = True

    def line_handler(self, ctx):
        handler = run_state(ctx)["handler"] = AnsibleLineHandler(ctx)
        return handler

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        super().prepare(ctx, workdir, env)
        mode = str(ctx.render_str(self.outputsMode, "outputsMode")).upper()
        if mode not in ("ALL", "EXPLICIT"):
            raise TaskFailed(f"property 'outputsMode' must be ALL or EXPLICIT, got {mode!r}")
        env["KESTRA_OUTPUTS_MODE"] = mode.lower()
        cfg = workdir / "ansible.cfg"
        if cfg.exists():
            ctx.logger.warning("Found an existing ansible.cfg file. Ignoring creation of a new ansible.cfg file.")
        elif self.ansibleConfig:
            cfg.write_text(ctx.render(self.ansibleConfig, "ansibleConfig", extra={"workingDir": str(workdir)}),
                           encoding="utf-8")
        for folder, name in (("callback_plugins", "kestra_logger.py"), ("callback_plugins", "kestra_quiet.py"),
                             ("library", "kestra.py")):
            (workdir / folder).mkdir(exist_ok=True)
            source = resources.files("kestra_dagster.tasks.ansible._resources").joinpath(name)
            (workdir / folder / name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        ansible_home = workdir / f"{HIDDEN_PREFIX}ansible"
        env["ANSIBLE_CONFIG"] = str(cfg)
        env.setdefault("ANSIBLE_HOME", str(ansible_home))
        env.setdefault("ANSIBLE_LOCAL_TEMP", str(ansible_home / "tmp"))
        env.setdefault("ANSIBLE_REMOTE_TEMP", str(ansible_home / "remote-tmp"))
        env.setdefault("ANSIBLE_NOCOLOR", "1")
        env.setdefault("ANSIBLE_FORCE_COLOR", "0")
        env["PYTHONUNBUFFERED"] = "1"
        if wants_docker(self, ctx):
            return  # the container image brings ansible (and its own PATH)
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", os.defpath)
        if not (Path(bin_dir) / "ansible-playbook").exists() and not _which("ansible-playbook", env["PATH"]):
            raise TaskFailed("ansible-playbook is not installed: pip install ansible-core")

    def body_commands(self, ctx, render, workdir: Path, env: dict[str, str]) -> list[str]:
        install = []
        if ctx.render_bool(self.autoInstallPythonRequirements, "autoInstallPythonRequirements"):
            install.append("[ ! -f requirements.txt ] || python -m pip install --no-cache-dir -r requirements.txt")
        if ctx.render_bool(self.autoInstallGalaxyRequirements, "autoInstallGalaxyRequirements"):
            install.append("[ ! -f requirements.yml ] || ansible-galaxy install -r requirements.yml")
        commands = super().body_commands(ctx, render, workdir, env)
        return [*install, *commands]

    def run(self, ctx) -> dict[str, Any]:
        run_state(ctx)["handler"] = None
        failure: TaskFailed | None = None
        try:
            outputs = super().run(ctx)
        except TaskFailed as exc:
            if exc.outputs is None:
                raise
            failure, outputs = exc, dict(exc.outputs)
        handler: AnsibleLineHandler | None = run_state(ctx).get("handler")
        mode = str(ctx.render_str(self.outputsMode, "outputsMode")).upper()
        playbooks = handler.playbooks if handler else []
        outputs["vars"] = {**outputs.get("vars", {}),
                           "outputs": (handler.declared if mode == "EXPLICIT" else handler.results) if handler else [],
                           "playbooks": playbooks}
        outputs["playbooks"] = playbooks
        if ctx.render_bool(self.outputLogFile, "outputLogFile"):
            log = Path(ctx.working_dir) / "log"
            if log.is_file():
                outputs.setdefault("outputFiles", {})["log"] = ctx.storage.put_file(log, "log")
        if failure is not None:
            hosts = failed_hosts(playbooks)
            detail = f"; {'; '.join(hosts)}" if hosts else ""
            raise TaskFailed(ctx.mask(f"ansible: {failure}{detail}"), outputs=outputs)
        return outputs


def _which(name: str, path: str) -> str | None:
    import shutil

    return shutil.which(name, path=path)
