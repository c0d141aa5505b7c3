"""Task lists, core runnable tasks, runIf/when/disabled, flow outputs, Pause, inputs, secrets."""

from __future__ import annotations

import base64

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.errors import InputError

from .conftest import dump, flow_path, ts


def test_sequential_tasks_run_in_order_and_see_earlier_outputs(run_flow):
    out = run_flow("basics", "sequential.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.success
    order = out.step_order()
    assert order == ["kestra_start", "first", "second", "third", "fourth", "kestra_end"]
    assert out.outputs["second"] == {"value": "one two"}
    assert out.outputs["fourth"] == {"values": {"joined": "one two three", "number": 3}}
    assert "[third] third sees 'one two'" in out.log_text()
    runs = [out.run(t) for t in ("first", "second", "third", "fourth")]
    assert all(ts(a.ended) <= ts(b.started) for a, b in zip(runs, runs[1:]))
    assert out.tags["kestra/state"] == "SUCCESS"
    assert out.tags["kestra/flow"] == "tests.basics.sequential"


def test_sleep_waits(run_flow):
    out = run_flow("basics", "sleep.yaml")
    assert out.state == "SUCCESS"
    nap = out.run("nap")
    assert ts(nap.ended) - ts(nap.started) >= 0.28


@pytest.mark.parametrize("broken, state", [(False, "SUCCESS"), (True, "FAILED")])
def test_fail_with_condition(run_flow, broken, state):
    out = run_flow("basics", "fail_condition.yaml", inputs={"broken": broken})
    assert out.state == state, dump(out)
    if broken:
        assert out.task_states == {"guard": "FAILED"}
        assert out.run("guard").error == "input broken was true"
        assert out.steps("STEP_FAILURE") == ["guard"]  # the failed task's own step is red
    else:
        assert out.task_states == {"guard": "SUCCESS", "after": "SUCCESS"}
        assert "condition is false: not failing" in out.log_text()


def test_labels_task_sets_run_tags_and_the_labels_variable(run_flow):
    out = run_flow("basics", "labels.yaml", labels={"origin": "test"})
    assert out.state == "SUCCESS", dump(out)
    assert out.tags["kestra.label/stage"] == "loaded-labels"
    assert out.tags["kestra.label/team"] == "platform"  # the task overrides the flow label
    assert out.tags["kestra.label/origin"] == "test"
    assert out.outputs["see"] == {"value": "loaded-labels"}


def test_disabled_flow_does_not_run(run_flow):
    out = run_flow("basics", "disabled_flow.yaml")
    assert not out.success
    assert out.state == "FAILED"
    assert "disabled" in out.log_text()


# ----------------------------------------------------------------------------- runIf / when / disabled


@pytest.mark.parametrize("go", [False, True])
def test_run_if_and_when(run_flow, go):
    out = run_flow("run_if", "run_if.yaml", inputs={"go": go})
    assert out.state == "SUCCESS", dump(out)
    states = out.task_states
    assert states["skipped_literal"] == "SKIPPED"
    assert states["skipped_by_input"] == ("SUCCESS" if go else "SKIPPED")
    assert states["when_true"] == ("SKIPPED" if go else "SUCCESS")
    assert states["last"] == "SUCCESS"
    assert "skipped_literal" not in out.outputs
    # disabled tasks are removed: no op, no task run, no output
    assert "disabled_one" not in states and "inner_disabled" not in states
    assert not any(step and step.startswith("disabled_one") for step, _ in out.events)
    assert states["inner_ok"] == "SUCCESS" and states["seq"] == "SUCCESS"


def test_run_if_render_error_fails_the_task(run_flow):
    out = run_flow("run_if", "run_if_error.yaml")
    assert out.state == "FAILED"
    assert out.task_states == {"bad_condition": "FAILED"}
    assert "runIf" in out.run("bad_condition").error


# ----------------------------------------------------------------------------- flow outputs


def test_flow_outputs_are_rendered_and_returned(run_flow):
    out = run_flow("outputs", "flow_outputs.yaml", inputs={"n": 21})
    assert out.state == "SUCCESS", dump(out)
    assert out.flow_outputs == {"result": "widget-42", "count": 42}


def test_flow_outputs_render_error_fails_the_execution(run_flow):
    out = run_flow("outputs", "flow_outputs_broken.yaml")
    assert out.state == "FAILED"
    assert out.tags["kestra/state"] == "FAILED"
    assert out.task_states == {"compute": "SUCCESS"}
    assert not out.success
    assert out.steps("STEP_FAILURE") == ["kestra_end"]
    assert "flow outputs could not be rendered" in out.raw_log
    assert "missing_task" in out.raw_log


# ----------------------------------------------------------------------------- Pause


def test_pause_without_duration_waits_for_a_decision(run_flow):
    # A top-level Pause splits the job (compiler.gates): this run ends at the gate, PAUSED; the
    # rest runs in the next part once someone decides (tests/approvals cover the resume).
    out = run_flow("pause", "pause_forever.yaml")
    assert out.state == "PAUSED" and out.success
    assert out.tags["kestra/waiting_for"] == "wait_for_me" and "kestra/paused_until" not in out.tags
    assert out.task_states == {"wait_for_me": "PAUSED"}
    assert "after" not in out.step_order()


def test_pause_with_duration_pauses_until_it_elapses(run_flow):
    out = run_flow("pause", "pause_duration.yaml")
    assert out.state == "PAUSED"
    assert out.tags["kestra/paused_until"]  # the resume sensor resumes it then (behavior RESUME)
    assert "after" not in out.step_order()


def test_nested_pause_without_duration_fails_with_what_to_do(run_flow):
    out = run_flow("pause", "pause_nested.yaml")
    assert out.state == "FAILED"
    assert out.task_states["wait"] == "FAILED" and out.task_states["handler"] == "SUCCESS"
    assert "only a top-level Pause can do" in out.raw_log and "pauseDuration" in out.raw_log


# ----------------------------------------------------------------------------- inputs


def test_bad_inputs_are_rejected_before_any_task_runs(tmp_path, storage_dir):
    flow = flow_path("basics", "fail_condition.yaml")
    with pytest.raises(InputError) as info:
        run_flow_file(str(flow), {"broken": "maybe"})
    assert info.value.errors == ["'broken' = 'maybe' is not a valid BOOLEAN: expected true or false, got 'maybe'"]
    with pytest.raises(InputError) as info:
        run_flow_file(str(flow), {"unknown": "1"})
    assert "'unknown' is not an input of tests.basics.fail_condition" in info.value.errors[0]
    assert not storage_dir.exists() or not any(storage_dir.rglob("*"))


def test_run_flow_file_summary(storage_dir):
    result = run_flow_file(str(flow_path("outputs", "flow_outputs.yaml")), {"n": "5"})
    assert set(result) == {"runId", "state", "taskStates", "outputs", "flowOutputs", "metrics"}
    assert result["state"] == "SUCCESS"
    assert result["taskStates"] == {"compute": "SUCCESS"}
    assert result["flowOutputs"] == {"result": "widget-10", "count": 10}


# ----------------------------------------------------------------------------- secrets


def test_secret_values_never_reach_the_event_log(run_flow, monkeypatch):
    value = "s3cr3t-Value-42"
    monkeypatch.setenv("SECRET_API_TOKEN", base64.b64encode(value.encode()).decode())
    out = run_flow("secrets", "secrets.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.outputs["length"] == {"value": str(len(value))}
    text = out.log_text()
    assert "token is ******" in text
    assert "refused with ******" in text
    assert value not in text
    assert value not in out.raw_log  # not in any message, metadata or error of the event log
    assert value not in (out.run("boom").error or "")
