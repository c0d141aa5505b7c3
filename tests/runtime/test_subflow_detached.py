"""Subflow ``wait: false``: the parent's task only starts the child, which runs as its own Dagster run.

In process (``execute_in_process``, as the CLI runs flows) the child runs in a background thread;
under a deployment it is submitted to the run coordinator (the daemon test below).
"""

from __future__ import annotations

import httpx
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, RunsFilter

from kestra_dagster.compat import run_coordinator
from kestra_dagster.compiler.subflow import wait_for_detached
from kestra_dagster.compiler.triggers import run_outputs
from kestra_dagster.testing import LocalDeployment, wait_until

from .conftest import dump, execute, flow_path, ts

CHILD_JOB = "tests_subflow__child_sleeps"
WAIT = 120  # a launched run starts in ~3 s on an idle machine; generous for a loaded 2-core one


def _run_parent(name: str, instance: DagsterInstance | None = None):
    directory = flow_path("subflow")
    return execute(directory, file=directory / name, instance=instance)


def test_wait_false_finishes_the_task_before_the_child_ends(tmp_path):
    # A persistent instance (SQLite files, as with DAGSTER_HOME): the child runs alongside at once.
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        out = _run_parent("parent_nowait.yaml", instance)
        assert out.state == "SUCCESS", dump(out)
        call = out.outputs["call"]
        child_id = call["executionId"]
        assert call["state"] is None and "outputs" not in call  # nothing of the child is awaited
        assert out.outputs["use"] == {"value": f"started {child_id}"}
        # the child sleeps 2 s: it is still going when the parent has ended
        child = wait_until(lambda: instance.get_run_by_id(child_id), 10, what="the child run")
        assert not child.is_finished
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
    # An in-memory instance (tests, `kestra-dagster run` without DAGSTER_HOME) cannot take two runs
    # writing at once: the child starts when its parent run has ended.
    with DagsterInstance.ephemeral() as instance:
        out = _run_parent("parent_nowait_child_fails.yaml", instance)
        assert out.state == "SUCCESS", dump(out)  # transmitFailed does not apply without wait
        (detached,) = wait_for_detached(timeout=60)
        assert detached.run_id == out.outputs["call"]["executionId"] and detached.state == "FAILED"
        assert instance.get_run_by_id(detached.run_id).tags["kestra/state"] == "FAILED"
        parent_end = instance.get_run_record_by_id(out.run_id).end_time
        assert instance.get_run_record_by_id(detached.run_id).start_time >= parent_end


def test_wait_false_with_bad_inputs_fails_the_task_and_starts_nothing():
    with DagsterInstance.ephemeral() as instance:
        out = _run_parent("parent_nowait_bad_inputs.yaml", instance)
        assert out.state == "FAILED", dump(out)
        error = out.run("call").error
        assert "subflow tests.subflow.child could not start" in error
        assert "'fail' = 'perhaps' is not a valid BOOLEAN" in error
        assert wait_for_detached(timeout=5) == []
        assert instance.get_run_records(filters=RunsFilter(job_name="tests_subflow__child")) == []


# ----------------------------------------------------------------------------- under a real daemon

DEPLOYED_PARENT = """
id: parent-deployed
namespace: demo.subflow
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: demo.subflow
    flowId: child-deployed
    wait: false
    inputs: {who: "{{ trigger.body.who }}"}
  - id: nested
    type: io.kestra.plugin.core.flow.Subflow
    namespace: demo.subflow
    flowId: middle-deployed
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: sub-key}
"""
# A `wait: true` child runs inside its parent's run; its own `wait: false` child is still submitted.
DEPLOYED_MIDDLE = """
id: middle-deployed
namespace: demo.subflow
tasks:
  - id: start
    type: io.kestra.plugin.core.flow.Subflow
    namespace: demo.subflow
    flowId: child-deployed
    wait: false
    inputs: {who: nested}
"""
DEPLOYED_CHILD = """
id: child-deployed
namespace: demo.subflow
inputs:
  - {id: who, type: STRING}
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT3S}
  - {id: greet, type: io.kestra.plugin.core.debug.Return, format: "hello {{ inputs.who }}"}
"""


QUEUED = run_coordinator("QueuedRunCoordinator", max_concurrent_runs=4, dequeue_interval_seconds=1)


@pytest.mark.slow
@pytest.mark.timeout(420)  # 120-170 s measured at load average ~9 on 2 cores
@pytest.mark.parametrize("coordinator", ["default", "queued"])
def test_wait_false_under_a_daemon_submits_the_child_to_the_run_coordinator(tmp_path, coordinator):
    """Webhook → daemon launches the parent from the code location → its task submits the child run.

    ``default``: the DefaultRunCoordinator launches it at once through the parent's code server;
    ``queued``: the QueuedRunCoordinator queues it and the daemon launches it.
    """
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "parent.yaml").write_text(DEPLOYED_PARENT)
    (flows / "child.yaml").write_text(DEPLOYED_CHILD)
    (flows / "middle.yaml").write_text(DEPLOYED_MIDDLE)
    with LocalDeployment(tmp_path, flows) as dep:
        if coordinator == "queued":
            config = yaml.safe_load((dep.home / "dagster.yaml").read_text())
            (dep.home / "dagster.yaml").write_text(yaml.safe_dump({**config, "run_coordinator": QUEUED}))
        url = dep.start_intake()
        dep.start_daemon()
        r = httpx.post(f"{url}/api/v1/executions/webhook/demo.subflow/parent-deployed/sub-key", json={"who": "daemon"},
                       timeout=10)
        assert r.status_code == 200, r.text
        (parent,) = dep.wait_for_runs(WAIT, finished=True, job_name="demo_subflow__parent_deployed")
        assert parent.remote_job_origin is not None  # launched from the code location, not in process
        assert parent.tags["kestra/state"] == "SUCCESS", dep.log_text("daemon")[-3000:]
        children = {r.tags.get("kestra/parent_task"): r for r in dep.runs(job_name="demo_subflow__child_deployed")}
        assert set(children) == {"call", "start"}
        child = children["call"]
        assert child.tags["kestra/parent_run_id"] == parent.run_id
        assert child.tags["kestra/subflow_detached"] == "submitted"
        assert child.remote_job_origin.location_name == parent.remote_job_origin.location_name
        (outputs, _) = run_outputs(dep.instance, parent.run_id)
        assert outputs["call"]["executionId"] == child.run_id
        # the middle flow ran in process inside the parent's run; its child was submitted all the same
        middle = dep.instance.get_run_by_id(outputs["nested"]["executionId"])
        assert middle.remote_job_origin is None and middle.tags["kestra/parent_run_id"] == parent.run_id
        grandchild = children["start"]
        assert grandchild.tags["kestra/parent_run_id"] == middle.run_id
        assert grandchild.tags["kestra/subflow_detached"] == "submitted" and grandchild.remote_job_origin is not None

        dep.wait_for_runs(WAIT, count=2, finished=True, job_name="demo_subflow__child_deployed")
        child = dep.instance.get_run_by_id(child.run_id)
        assert child.is_success and child.tags["kestra/state"] == "SUCCESS"
        assert run_outputs(dep.instance, child.run_id)[0]["greet"] == {"value": "hello daemon"}
        assert run_outputs(dep.instance, grandchild.run_id)[0]["greet"] == {"value": "hello nested"}
        (call_done,) = [r.timestamp for r in dep.instance.get_records_for_run(
            parent.run_id, of_type=DagsterEventType.STEP_SUCCESS).records if r.event_log_entry.step_key == "call"]
        child_record = dep.instance.get_run_record_by_id(child.run_id)
        assert call_done < child_record.end_time - 2  # the task did not wait for the 3 s child
