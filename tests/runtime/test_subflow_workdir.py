"""Subflow (its own Dagster run, outputs back, transmitFailed) and WorkingDirectory (shared files)."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, RunsFilter

from .conftest import dump, execute, flow_path


def _run_parent(name: str, instance: DagsterInstance | None = None):
    directory = flow_path("subflow")
    return execute(directory, file=directory / name, instance=instance)


def test_subflow_returns_the_child_outputs(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        out = _run_parent("parent.yaml", instance)
        assert out.state == "SUCCESS", dump(out)
        call = out.outputs["call"]
        assert call["state"] == "SUCCESS"
        assert call["outputs"] == {"greeting": "hello parent"}
        assert out.outputs["use"] == {"value": "child said: hello parent (SUCCESS)"}
        # The child is a Dagster run of its own, tagged with its parent.
        child_runs = instance.get_run_records(filters=RunsFilter(job_name="tests_subflow__child"))
        assert len(child_runs) == 1
        child = child_runs[0].dagster_run
        assert child.run_id == call["executionId"]
        assert child.tags["kestra/parent_run_id"] == out.run_id
        assert child.tags["kestra/parent_task"] == "call"
        assert "kestra/subflow_detached" not in child.tags  # wait: true runs it inside the task
        assert child.tags["kestra/state"] == "SUCCESS"


def test_failed_child_fails_the_subflow_task():
    out = _run_parent("parent_child_fails.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.task_states == {"call": "FAILED"}
    assert "subflow tests.subflow.child ended FAILED" in out.run("call").error
    assert out.outputs["call"]["state"] == "FAILED"  # outputs kept even when the task fails
    assert "never" in out.steps("STEP_SKIPPED")


def test_transmit_failed_false_keeps_the_parent_going():
    out = _run_parent("parent_no_transmit.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.task_states == {"call": "SUCCESS", "use": "SUCCESS"}
    assert out.outputs["use"] == {"value": "child ended FAILED"}


def test_subflow_to_an_unknown_flow_fails_with_the_known_flows():
    out = _run_parent("parent_unknown.yaml")
    assert out.state == "FAILED"
    error = out.run("call").error
    assert "flow tests.subflow.does_not_exist is not loaded" in error
    assert "tests.subflow.child" in error


def test_working_directory_shares_files_between_tasks(run_flow, storage_dir: Path):
    out = run_flow("working_directory", "shared_files.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.outputs["read"]["vars"] == {"content": "written by write", "lines": 2, "last": "from inputFiles"}
    where1, where2 = out.outputs["where1"]["value"], out.outputs["where2"]["value"]
    assert where1 == where2 and "kestra-wd-wd-" in where1
    assert not Path(where1).exists()  # removed after the block
    files = out.outputs["wd"]["outputFiles"]
    assert sorted(files) == ["given.txt", "shared.txt"]
    assert all(uri.startswith("kestra://") for uri in files.values())
    assert out.task_states["outside"] == "SUCCESS"  # a task outside gets its own directory
