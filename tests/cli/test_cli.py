"""``kestra-dagster`` as users run it: a subprocess, its stdout/stderr and its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOWS = REPO_ROOT / "tests" / "flows"
TIMEOUT = 120

BROKEN = """id: broken
namespace: tests.cli
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: hi
    timeout: 5s
  - id: t
    type: io.kestra.plugin.core.debug.Return
    format: x
"""

UNSUPPORTED = """id: unsupported
namespace: tests.cli
tasks:
  - id: magic
    type: io.kestra.plugin.core.log.Logg
    message: hi
"""

MALFORMED = "id: malformed\nnamespace: tests.cli\ntasks:\n  - id: t\n    type: [unclosed\n"


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["KESTRA_STORAGE_PATH"] = str(tmp_path / "storage")
    return subprocess.run(
        [sys.executable, "-m", "kestra_dagster.cli", *args],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO_ROOT, env=env,
    )


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, text in (("broken", BROKEN), ("unsupported", UNSUPPORTED), ("malformed", MALFORMED)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files[name] = path
    return files


# ----------------------------------------------------------------------------- validate


def test_validate_ok_text(tmp_path):
    proc = cli("validate", str(FLOWS / "basics"), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(list((FLOWS / "basics").glob("*.yaml")))
    assert all(line.endswith(": ok") for line in lines)
    assert f"{len(lines)} valid, 0 invalid" in proc.stderr


def test_validate_invalid_text_has_located_errors_and_carets(tmp_path, bad_files):
    proc = cli("validate", str(bad_files["broken"]), tmp_path=tmp_path)
    assert proc.returncode == 1
    out = proc.stdout
    assert f"{bad_files['broken']}:7:5: tasks[0].timeout: expected an ISO-8601 duration" in out
    assert f"{bad_files['broken']}:8:5: tasks[1].id: duplicate task id 't' (first used on line 4)" in out
    assert "  7 |     timeout: 5s" in out and "^" in out
    assert "0 valid, 1 invalid" in proc.stderr


def test_validate_reports_unsupported_types_as_invalid(tmp_path, bad_files):
    proc = cli("validate", str(bad_files["unsupported"]), tmp_path=tmp_path)
    assert proc.returncode == 1
    assert (f"{bad_files['unsupported']}:5:5: tasks[0]: unsupported task type io.kestra.plugin.core.log.Logg "
            "(task 'magic') (did you mean io.kestra.plugin.core.log.Log?)\n"
            "  4 |   - id: magic\n  5 |     type: io.kestra.plugin.core.log.Logg\n    |     ^") in proc.stdout


def test_validate_json_shape(tmp_path, bad_files):
    ok = FLOWS / "basics" / "sleep.yaml"
    proc = cli("validate", "--format", "json", str(ok), *(str(p) for p in bad_files.values()), tmp_path=tmp_path)
    assert proc.returncode == 1, proc.stderr
    entries = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(e["file"]).stem for e in entries] == ["sleep", "broken", "unsupported", "malformed"]
    for entry in entries:
        # the documented keys, plus `warnings` (expressions that will fail when rendered)
        assert set(entry) == {"file", "ok", "errors", "unsupported_types", "unsupported", "warnings"}
        for error in entry["errors"]:
            assert set(error) == {"line", "column", "path", "message"}
            assert isinstance(error["line"], int) and error["line"] >= 1
    sleep, broken, unsupported, malformed = entries
    assert sleep == {"file": str(ok), "ok": True, "errors": [], "unsupported_types": [], "unsupported": [],
                     "warnings": []}
    assert broken["ok"] is False and broken["unsupported_types"] == []
    assert [(e["line"], e["column"], e["path"]) for e in broken["errors"]] == [(7, 5, "tasks[0].timeout"), (8, 5, "tasks[1].id")]
    assert unsupported["ok"] is False
    assert unsupported["unsupported_types"] == ["io.kestra.plugin.core.log.Logg"]
    assert unsupported["unsupported"] == [{"type": "io.kestra.plugin.core.log.Logg", "kind": "task", "path": "tasks[0]",
                                           "line": 5, "column": 5, "suggestion": "io.kestra.plugin.core.log.Log"}]
    assert unsupported["errors"][0]["path"] == "tasks[0]" and unsupported["errors"][0]["line"] == 5
    assert malformed["ok"] is False
    [error] = malformed["errors"]
    assert error["path"] == "" and error["message"].startswith("invalid YAML: ") and error["line"] >= 5


def test_validate_all_ok_json_exits_zero(tmp_path):
    proc = cli("validate", "--format", "json", str(FLOWS / "conditional"), tmp_path=tmp_path)
    assert proc.returncode == 0
    assert all(json.loads(line)["ok"] for line in proc.stdout.splitlines())


def test_validate_without_flow_files_exits_two(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("validate", str(empty), tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "no flow files found" in proc.stderr


def test_validate_missing_path_is_a_usage_error(tmp_path):
    proc = cli("validate", str(tmp_path / "nope.yaml"), tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr


# ----------------------------------------------------------------------------- schema


def test_schema_is_json_with_every_task_type(tmp_path):
    proc = cli("schema", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    refs = schema["$defs"]["Task"]["anyOf"]
    names = {ref["$ref"].rsplit("/", 1)[-1] for ref in refs}
    assert "io_kestra_plugin_core_log_Log" in names and "io_kestra_plugin_core_flow_ForEach" in names
    for name in names:
        assert name in schema["$defs"], name
    log = schema["$defs"]["io_kestra_plugin_core_log_Log"]
    assert "io.kestra.core.tasks.log.Log" in log["properties"]["type"]["enum"]
    assert {"id", "namespace", "tasks"} <= set(schema["properties"])


# ----------------------------------------------------------------------------- run


def test_run_json_success(tmp_path):
    proc = cli("run", str(FLOWS / "outputs" / "flow_outputs.yaml"), "--input", "n=4", "--json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"runId", "state", "taskStates", "outputs", "flowOutputs", "metrics"}
    assert result["state"] == "SUCCESS"
    assert result["taskStates"] == {"compute": "SUCCESS"}
    assert result["flowOutputs"] == {"result": "widget-8", "count": 8}
    assert result["outputs"]["compute"] == {"values": {"doubled": "8", "name": "widget"}}  # rendered as text


def test_run_json_failed_exits_one(tmp_path):
    proc = cli("run", str(FLOWS / "basics" / "fail_condition.yaml"), "--input", "broken=true", "--json", tmp_path=tmp_path)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["state"] == "FAILED"
    assert result["taskStates"] == {"guard": "FAILED"}


def test_run_warning_exits_zero_and_prints_states(tmp_path):
    proc = cli("run", str(FLOWS / "allow_failure" / "allow_flags.yaml"), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "  allowed: WARNING" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].endswith(": WARNING")


def test_run_rejected_inputs_exit_two(tmp_path):
    proc = cli("run", str(FLOWS / "basics" / "fail_condition.yaml"), "--input", "broken=maybe", "--json", tmp_path=tmp_path)
    assert proc.returncode == 2
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["runId"] is None and result["state"] == "REJECTED"
    assert result["errors"] == ["'broken' = 'maybe' is not a valid BOOLEAN: expected true or false, got 'maybe'"]
    assert "invalid inputs" in proc.stderr


def test_run_bad_input_syntax_exits_two(tmp_path):
    proc = cli("run", str(FLOWS / "basics" / "sleep.yaml"), "--input", "novalue", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "--input expects key=value" in proc.stderr


def test_run_invalid_flow_exits_two(tmp_path, bad_files):
    proc = cli("run", str(bad_files["broken"]), "--json", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "tasks[0].timeout" in proc.stderr


def test_run_subflow_with_flows_dir(tmp_path):
    directory = FLOWS / "subflow"
    proc = cli("run", str(directory / "parent.yaml"), "--flows-dir", str(directory), "--json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["outputs"]["use"] == {"value": "child said: hello parent (SUCCESS)"}


def test_run_waits_for_wait_false_subflows_and_lists_them(tmp_path):
    directory = FLOWS / "subflow"
    proc = cli("run", str(directory / "parent_nowait.yaml"), "--flows-dir", str(directory), "--json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["state"] == "SUCCESS"
    child_id = result["outputs"]["call"]["executionId"]
    # the command did not exit before the background child ended, and says which run it was
    assert result["detachedRuns"] == [{"runId": child_id, "flow": "tests.subflow.child_sleeps", "state": "SUCCESS"}]


# ----------------------------------------------------------------------------- --version


def test_version_names_package_dagster_and_python(tmp_path):
    import platform
    from importlib.metadata import version

    proc = cli("--version", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"kestra-dagster {version('kestra-dagster')}, dagster {version('dagster')}, "
                                   f"Python {platform.python_version()}")
