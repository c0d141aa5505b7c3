"""errors / finally / afterExecution through real Dagster runs (catch-and-route graph)."""

from __future__ import annotations

from .conftest import dump


def test_failure_skips_the_rest_runs_errors_then_finally(run_flow):
    out = run_flow("errors_finally", "failing.yaml")
    assert out.state == "FAILED", dump(out)
    assert not out.success  # Dagster run FAILURE
    assert out.tags["kestra/state"] == "FAILED"
    assert out.task_states == {"t1": "SUCCESS", "t2": "FAILED", "e1": "SUCCESS", "f1": "SUCCESS"}
    # Dagster itself skips the rest of the list; no helper step exists for any task.
    assert "t3" in out.steps("STEP_SKIPPED")
    assert "t3" not in out.step_order()
    # The failed task's own step is red, and only it.
    assert out.steps("STEP_FAILURE") == ["t2"]
    # errors see the outputs of earlier tasks; finally runs after errors.
    assert out.outputs["e1"] == {"value": "handled after first"}
    order = out.step_order()
    assert order.index("t2") < order.index("errors.e1") < order.index("finally.f1") < order.index("kestra_end")
    assert out.run("t2").error == "boom in t2"
    assert "boom in t2" in out.log_text()


def test_success_skips_errors_and_runs_finally(run_flow):
    out = run_flow("errors_finally", "succeeding.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.success
    assert out.task_states == {"t1": "SUCCESS", "t2": "SUCCESS", "f1": "SUCCESS"}
    assert "errors.e1" in out.steps("STEP_SKIPPED")
    assert out.steps("STEP_FAILURE") == []
    assert out.outputs["t2"] == {"value": "second after first"}
    order = out.step_order()
    assert order.index("t2") < order.index("finally.f1") < order.index("kestra_end")


def test_failing_errors_branch_stops_and_finally_still_runs(run_flow):
    out = run_flow("errors_finally", "errors_fail_too.yaml")
    assert out.state == "FAILED"
    assert out.task_states == {"t1": "FAILED", "e1": "FAILED", "f1": "SUCCESS"}
    assert "errors.e2" in out.steps("STEP_SKIPPED")
    assert sorted(out.steps("STEP_FAILURE")) == ["errors.e1", "t1"]
    assert "finally ran" in out.log_text()


def test_failing_finally_fails_the_flow(run_flow):
    out = run_flow("errors_finally", "finally_fails.yaml")
    assert out.state == "FAILED"
    assert out.task_states == {"t1": "SUCCESS", "f1": "FAILED"}
    assert out.steps("STEP_FAILURE") == ["finally.f1"]


def test_flowable_local_errors_then_flow_errors(run_flow):
    out = run_flow("errors_finally", "nested_errors.yaml")
    assert out.state == "FAILED", dump(out)
    states = out.task_states
    assert states["inner_ok"] == "SUCCESS" and states["inner_fail"] == "FAILED"
    assert "inner_skipped" not in states
    assert states["local_error"] == "SUCCESS" and states["local_finally"] == "SUCCESS"
    assert states["seq"] == "FAILED"  # a successful local errors branch does not rescue it
    assert states["global_error"] == "SUCCESS"
    assert "after_seq" in out.steps("STEP_SKIPPED")
    assert out.run("local_error").parent == "seq" and out.run("local_error").branch == "errors"
    assert out.run("local_finally").branch == "finally"
    # The failed child and the block it fails are red; the block's errors/finally are steps too.
    assert out.steps("STEP_FAILURE") == ["seq.inner_fail", "seq.kestra_end"]
    assert {"seq.local_error", "seq.local_finally"} <= set(out.step_order())


def test_after_execution_sees_the_final_state_and_cannot_change_it(run_flow):
    out = run_flow("after_execution", "after_success.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.success  # no marker op for afterExecution: the Dagster run stays green
    assert out.tags["kestra/state"] == "SUCCESS"
    assert out.outputs["seen"] == {"value": "state=SUCCESS"}
    assert out.task_states["broken"] == "FAILED"
    order = out.step_order()
    assert order.index("kestra_end") < order.index("after_execution.seen") < order.index("after_execution.broken")
    # An afterExecution failure does not fail the Dagster run (Kestra's state stays): its step
    # routes and the failure shows in the task's logs and metadata.
    assert out.steps("STEP_FAILURE") == []
    assert "afterExecution failure must not change the state" in out.log_text()


def test_after_execution_after_a_failure(run_flow):
    out = run_flow("after_execution", "after_failure.yaml")
    assert out.state == "FAILED"
    assert out.outputs["f1"] == {"value": "finally sees RUNNING"}  # finally runs before the end
    assert out.outputs["seen"] == {"value": "state=FAILED"}


def test_error_logs_function_in_errors_branch(run_flow):
    out = run_flow("errors_finally", "error_logs.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.outputs["report"] == {"value": "broken: disk is full;"}
