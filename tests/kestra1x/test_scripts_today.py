"""Script tasks as Kestra runs them: the Docker runner and each type's default image unless told
otherwise, against the real daemon with local images under the default names; Kestra's real
``kestra`` package when the task's interpreter has it; metrics captured structurally."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.tasks.scripts._exec import EXECUTION_CONTEXT_FILE
from kestra_dagster.tasks.scripts.python_commands import PythonCommands
from kestra_dagster.tasks.scripts.python_script import PythonScript
from kestra_dagster.tasks.scripts.shell_commands import ShellCommands

FLOWS = Path(__file__).parent / "flows"
PROCESS = {"type": "io.kestra.plugin.core.runner.Process"}


def test_default_images_match_kestra():
    assert ShellCommands.default_image == "ubuntu"
    assert PythonScript.default_image == PythonCommands.default_image == "python:3.13-slim"


def test_flow_without_runner_runs_in_the_default_images(default_images, docker_by_default):
    result = run_flow_file(str(FLOWS / "scripts_default_docker.yaml"), {"name": "docker"})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["shell"]["vars"] == {"where": "ubuntu image"}
    python = result["outputs"]["python"]["vars"]
    assert python["greeting"] == "hello docker" and python["image"] is True
    # counters summed per name and tags, timers in seconds
    assert result["metrics"]["python"] == [
        {"name": "rows", "type": "counter", "value": 7, "count": 2, "tags": {"table": "a"}},
        {"name": "load", "type": "timer", "value": 1.5, "count": 1, "tags": {}},
    ]
    assert not default_images.containers.list(all=True, filters={"ancestor": "python:3.13-slim"})


def test_instance_setting_makes_process_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER", "PROCESS")
    flow = tmp_path / "f.yaml"
    flow.write_text("id: f\nnamespace: company.team\ntasks:\n  - id: here\n    type: io.kestra.plugin.scripts.shell.Commands\n"
                    "    commands:\n      - test -e /etc/os-release && echo '::{\"outputs\":{\"ok\":1}}::'\n")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS" and result["outputs"]["here"]["vars"] == {"ok": 1}


def test_explicit_process_example(docker_by_default):
    result = run_flow_file(str(FLOWS / "scripts_process_explicit.yaml"), {})
    assert result["outputs"]["here"]["vars"] == {"where": "this machine"}


def test_plugin_defaults_win_over_the_instance_setting(default_images, monkeypatch, tmp_path):
    monkeypatch.setenv("KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER", "PROCESS")
    flow = tmp_path / "f.yaml"
    flow.write_text("""
id: f
namespace: company.team
tasks:
  - id: there
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - test ! -e /etc/os-release && echo '::{"outputs":{"in":"container"}}::'
pluginDefaults:
  - type: io.kestra.plugin.scripts
    values:
      taskRunner:
        type: io.kestra.plugin.scripts.runner.docker.Docker
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["there"]["vars"] == {"in": "container"}


def test_real_kestra_package_wins_in_the_tasks_interpreter(kestra_venv, make_ctx):
    """Our interpreter has no `kestra`; the task's has Kestra's: the task gets Kestra's."""
    import importlib.util

    assert importlib.util.find_spec("kestra") is None
    task = PythonCommands.model_validate({
        "id": "t", "type": PythonCommands.kestra_type, "taskRunner": PROCESS, "executionContext": True,
        "inputFiles": {"main.py": (
            "import kestra\nfrom kestra import Kestra, context\n"
            "Kestra.outputs({'file': kestra.__file__, 'flow': context.flow.id, 'flowable': hasattr(kestra, 'Flow')})\n"
            "Kestra.counter('n', 2)\nKestra.counter('n', 5)\nKestra.timer('t', 0.25)\nKestra.timer('t', 0.5)\n")},
        "commands": [f"{kestra_venv} main.py"],
    })
    ctx = make_ctx()
    out = task.run(ctx)
    assert out["exitCode"] == 0
    assert out["vars"]["file"].startswith(str(kestra_venv.parent.parent)) and out["vars"]["flowable"] is True
    assert out["vars"]["flow"] == ctx.variables["flow"]["id"]
    assert ctx.metrics == [
        {"name": "n", "type": "counter", "value": 7, "count": 2, "tags": {}},
        {"name": "t", "type": "timer", "value": 0.75, "count": 2, "tags": {}},
    ]
    assert not (Path(ctx.working_dir) / EXECUTION_CONTEXT_FILE).exists()  # removed after the task


def test_stand_in_serves_interpreters_without_kestra(make_ctx):
    task = PythonScript.model_validate({
        "id": "t", "type": PythonScript.kestra_type, "taskRunner": PROCESS, "executionContext": True,
        "outputFiles": ["*"],
        "script": ("import kestra\nfrom kestra import Kestra, context\n"
                   "Kestra.outputs({'file': kestra.__file__, 'flow': context.flow.id})\n"
                   "Kestra.gauge('g', 1)\nKestra.gauge('g', 3)\n"),
    })
    ctx = make_ctx()
    out = task.run(ctx)
    assert out["vars"]["file"].endswith(os.path.join(".kestra-python", "kestra.py"))
    assert out["vars"]["flow"] == "flow"
    assert out["outputFiles"] == {}  # the context file is never collected
    assert ctx.metrics == [{"name": "g", "type": "gauge", "value": 3, "count": 2, "tags": {}}]


def test_config_key_sets_the_instance_default():
    from kestra_dagster.config import ConfigError, parse_config

    config = parse_config({"kestra": {"tasks": {"scripts": {"default-task-runner": "process"}}}})
    assert config.process_env()["KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER"] == "PROCESS"
    with pytest.raises(ConfigError, match="not DOCKER or PROCESS"):
        parse_config({"kestra": {"tasks": {"scripts": {"default-task-runner": "kubernetes"}}}})
