"""python.Commands / python.Script on the Process runner."""

from __future__ import annotations

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.scripts.python_commands import PythonCommands
from kestra_dagster.tasks.scripts.python_script import PythonScript

pytestmark = pytest.mark.timeout(30)


def test_python_script_outputs_via_the_kestra_helper(make_ctx) -> None:
    ctx = make_ctx(variables={"n": "21"})
    out = PythonScript(
        id="py", type=PythonScript.kestra_type,
        script="""
import os, sys
from kestra import Kestra
n = int("{{ n }}")
print("computing", flush=True)
Kestra.outputs({"answer": n * 2, "ok": True})
Kestra.counter("rows", 3)
Kestra.logger().warning("a warning from python")
print(os.environ["PYTHONUNBUFFERED"])
with open("result.txt", "w") as f:
    f.write("42")
""",
        outputFiles=["result.txt"],
    ).run(ctx)
    assert out["vars"] == {"answer": 42, "ok": True}
    assert set(out["outputFiles"]) == {"result.txt"}
    assert ctx.logger.messages("INFO")[0] == "computing"
    assert "a warning from python" in ctx.logger.messages("WARNING")
    assert "true" in ctx.logger.messages("INFO")
    assert any("metric counter 'rows' = 3" in m for m in ctx.logger.messages())
    # helper files (script file, kestra module, output dir) do not outlive the run
    assert sorted(p.name for p in ctx.working_dir.iterdir()) == ["result.txt"]


def test_python_script_exception_fails_the_task(make_ctx) -> None:
    ctx = make_ctx()
    with pytest.raises(TaskFailed, match="exit code 1"):
        PythonScript(id="py", type=PythonScript.kestra_type, script="raise ValueError('boom')").run(ctx)
    assert any("ValueError: boom" in m for m in ctx.logger.messages("WARNING"))


def test_python_commands_with_input_files_and_before_commands(make_ctx) -> None:
    ctx = make_ctx()
    out = PythonCommands(
        id="py", type=PythonCommands.kestra_type,
        beforeCommands=["echo preparing"],
        inputFiles={"main.py": "from kestra import Kestra\nprint('main ran')\nKestra.outputs({'x': 'y'})\n"},
        commands=["python main.py"],
    ).run(ctx)
    assert ctx.logger.messages("INFO") == ["preparing", "main ran"]
    assert out["vars"] == {"x": "y"}


def test_python_dependencies_that_cannot_be_installed_fail_clearly(make_ctx, monkeypatch, tmp_path) -> None:
    # installing dependencies is tested in tests/plugins/test_python_dependencies.py
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("KESTRA_PYTHON_DEPS_CACHE", str(tmp_path / "deps"))
    with pytest.raises(TaskFailed, match="cannot install python dependencies"):
        PythonScript(id="py", type=PythonScript.kestra_type, script="print(1)", dependencies=["requests"],
                     packageManager="PIP").run(make_ctx())


def test_python_properties_accepted(make_ctx) -> None:
    task = PythonScript(
        id="py", type=PythonScript.kestra_type, script="print('ok')",
        containerImage="python:3.12-slim", pythonVersion="3.12", packageManager="UV", dependencies=[],
        taskRunner={"type": "io.kestra.plugin.core.runner.Process"},
    )
    assert task.run(make_ctx())["exitCode"] == 0
