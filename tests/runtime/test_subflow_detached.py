"""Subflow ``wait: false``: the parent's task only starts the child, which runs as its own Dagster run.

In process (``execute_in_process``, as the CLI runs flows) the child runs in a background thread;
under a deployment it is submitted to the run coordinator (the daemon test below).
"""

from __future__ import annotations

from dagster import DagsterInstance, RunsFilter

from kestra_dagster.compiler.subflow import wait_for_detached

from .conftest import dump, execute, flow_path, ts

CHILD_JOB = "tests_subflow__child_sleeps"


def _run_parent(name: str, instance: DagsterInstance | None = None):
    directory = flow_path("subflow")
    return execute(directory, file=directory / name, instance=instance)


def test_wait_false_finishes_the_task_before_the_child_ends():
    with DagsterInstance.ephemeral() as instance:
        out = _run_parent("parent_nowait.yaml", instance)
        assert out.state == "SUCCESS", dump(out)
        call = out.outputs["call"]
        child_id = call["executionId"]
        assert call["state"] is None and "outputs" not in call  # nothing of the child is awaited
        assert out.outputs["use"] == {"value": f"started {child_id}"}
        # the child sleeps 2 s: it is still going when the parent has ended
        child = instance.get_run_by_id(child_id)
        assert child is not None and not child.is_finished
        assert child.tags["kestra/parent_run_id"] == out.run_id
        assert child.tags["kestra/parent_task"] == "call"
        assert child.tags["kestra/parent_flow"] == "tests.subflow.parent_nowait"
        assert child.tags["kestra/subflow_detached"] == "background"
        assert child.tags["kestra/flow"] == "tests.subflow.child_sleeps"  # the child job's own tags too

        (detached,) = wait_for_detached(timeout=60)
        assert (detached.run_id, detached.flow, detached.state) == (child_id, "tests.subflow.child_sleeps", "SUCCESS")
        record = instance.get_run_record_by_id(child_id)
        assert record.dagster_run.is_success and record.dagster_run.tags["kestra/state"] == "SUCCESS"
        assert ts(out.run("call").ended) < record.end_time - 1.5  # the task ended ~2 s before its child
        (only,) = instance.get_run_records(filters=RunsFilter(job_name=CHILD_JOB))
        assert only.dagster_run.run_id == child_id


def test_wait_false_ignores_the_child_failure():
    with DagsterInstance.ephemeral() as instance:
        out = _run_parent("parent_nowait_child_fails.yaml", instance)
        assert out.state == "SUCCESS", dump(out)  # transmitFailed does not apply without wait
        (detached,) = wait_for_detached(timeout=60)
        assert detached.run_id == out.outputs["call"]["executionId"] and detached.state == "FAILED"
        assert instance.get_run_by_id(detached.run_id).tags["kestra/state"] == "FAILED"


def test_wait_false_with_bad_inputs_fails_the_task_and_starts_nothing():
    with DagsterInstance.ephemeral() as instance:
        out = _run_parent("parent_nowait_bad_inputs.yaml", instance)
        assert out.state == "FAILED", dump(out)
        error = out.run("call").error
        assert "subflow tests.subflow.child could not start" in error
        assert "'fail' = 'perhaps' is not a valid BOOLEAN" in error
        assert wait_for_detached(timeout=5) == []
        assert instance.get_run_records(filters=RunsFilter(job_name="tests_subflow__child")) == []
