"""Validator accuracy on today's flows: every unsupported type listed with its kind, close
suggestions only, task runners checked before run time, and the same located errors from
``validate`` and ``run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import parse_flow
from kestra_dagster.registry import get_registry

HERE = Path(__file__).parent
VALIDATE = HERE / "validate"


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "kestra_dagster.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_validate_json_lists_every_unsupported_type_with_its_kind(tmp_path):
    proc = cli("validate", "--format", "json", str(VALIDATE), tmp_path=tmp_path)
    assert proc.returncode == 1, proc.stderr
    entries = {Path(e["file"]).stem: e for e in map(json.loads, proc.stdout.splitlines())}
    assert set(entries) == {"today_mixed", "today_with_other_error", "today_ok"}
    assert entries["today_ok"]["ok"] is True and entries["today_ok"]["unsupported"] == []
    mixed = entries["today_mixed"]
    assert [(u["type"], u["kind"], u["path"]) for u in mixed["unsupported"]] == [
        ("io.kestra.plugin.aws.dynamodb.Scan", "task", "tasks[0]"),
        ("io.kestra.plugin.ee.kubernetes.runner.Kubernetes", "taskRunner", "tasks[1].taskRunner"),
        ("com.example.condition.BusinessHours", "condition", "triggers[0].conditions[0]"),
        ("io.kestra.plugin.gcp.pubsub.Trigger", "trigger", "triggers[1]"),
    ]
    assert all(u["line"] >= 1 and u["column"] >= 1 for u in mixed["unsupported"])
    # a far-fetched "did you mean" is worse than none
    assert mixed["unsupported"][0]["suggestion"] is None
    other = entries["today_with_other_error"]
    assert other["unsupported_types"] == ["io.kestra.plugin.gcp.gcs.Download"]
    messages = [e["message"] for e in other["errors"]]
    assert any("ISO-8601 duration" in m for m in messages)
    assert any(m.startswith("unsupported task type io.kestra.plugin.gcp.gcs.Download") for m in messages)


def test_text_output_names_each_kind(tmp_path):
    proc = cli("validate", str(VALIDATE / "today_mixed.yaml"), tmp_path=tmp_path)
    out = proc.stdout
    assert "unsupported task type io.kestra.plugin.aws.dynamodb.Scan (task 'scan')\n" in out
    assert "unsupported task runner io.kestra.plugin.ee.kubernetes.runner.Kubernetes (task 'transform')" in out
    assert "unsupported condition type com.example.condition.BusinessHours (trigger 'nightly')" in out
    assert "unsupported trigger type io.kestra.plugin.gcp.pubsub.Trigger (trigger 'on_message')" in out


def test_made_up_runner_fails_validation_not_the_run():
    with pytest.raises(FlowValidationError) as err:
        parse_flow("""
id: f
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Proces
    commands: [echo hi]
  - id: bad
    type: io.kestra.plugin.core.log.Log
""", file="f.yaml")
    [runner] = err.value.unsupported
    assert runner.kind == "taskRunner" and runner.suggestion == "io.kestra.plugin.core.runner.Process"
    assert (runner.line, runner.column) == (8, 7)


def test_runner_from_plugin_defaults_is_checked_too():
    with pytest.raises(FlowValidationError) as err:
        parse_flow("""
id: f
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [echo hi]
  - id: bad
    type: io.kestra.plugin.core.log.Log
pluginDefaults:
  - type: io.kestra.plugin.scripts
    values:
      taskRunner:
        type: io.kestra.plugin.ee.gcp.runner.Batch
""", file="f.yaml")
    assert [u.type for u in err.value.unsupported] == ["io.kestra.plugin.ee.gcp.runner.Batch"]


@pytest.mark.parametrize("written, expected", [
    ("io.kestra.plugin.aws.dynamodb.Scan", None),
    ("io.kestra.plugin.core.log.Logg", "io.kestra.plugin.core.log.Log"),
    ("io.kestra.plugin.scripts.pyton.Script", "io.kestra.plugin.scripts.python.Script"),
    ("io.kestra.plugin.slack.notifications.SlackIncomingWebhok", "io.kestra.plugin.slack.notifications.SlackIncomingWebhook"),
    ("io.kestra.plugin.core.execution.Count", None),
    ("io.kestra.plugin.core.flow.foreach", "io.kestra.plugin.core.flow.ForEach"),
])
def test_did_you_mean_only_for_close_names(written, expected):
    assert get_registry().suggest(written) == expected


def test_run_prints_the_same_located_error_as_validate(tmp_path):
    flow = VALIDATE / "today_with_other_error.yaml"
    validate = cli("validate", str(flow), tmp_path=tmp_path)
    run = cli("run", str(flow), tmp_path=tmp_path)
    assert run.returncode == 2
    headline = f"{flow}:6:5: tasks[0]: unsupported task type io.kestra.plugin.gcp.gcs.Download (task 'download')"
    caret = "  6 |     type: io.kestra.plugin.gcp.gcs.Download\n    |     ^"
    assert headline in validate.stdout and caret in validate.stdout
    assert headline in run.stderr and caret in run.stderr


def test_run_of_a_flow_with_only_unsupported_types_is_located_too(tmp_path):
    flow = tmp_path / "only.yaml"
    flow.write_text("id: only\nnamespace: company.team\ntasks:\n  - id: s\n    type: io.kestra.plugin.aws.dynamodb.Scan\n")
    run = cli("run", str(flow), tmp_path=tmp_path)
    assert run.returncode == 2
    assert f"{flow}:5:5: tasks[0]: unsupported task type io.kestra.plugin.aws.dynamodb.Scan (task 's')" in run.stderr
    assert "    |     ^" in run.stderr


def test_condition_typo_gets_the_close_condition():
    with pytest.raises(FlowValidationError) as err:
        parse_flow("""
id: f
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: hi
  - id: bad
    type: io.kestra.plugin.core.log.Log
triggers:
  - id: s
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    conditions:
      - type: io.kestra.plugin.core.condition.Weekendd
""", file="f.yaml")
    [cond] = err.value.unsupported
    assert cond.kind == "condition" and cond.suggestion == "io.kestra.plugin.core.condition.Weekend"
    assert cond.path == "triggers[0].conditions[0]"
