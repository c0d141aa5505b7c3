"""state.Set/Get/Delete, WaitFor and log.Fetch run through real Dagster executions."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import DagsterInstance

from kestra_dagster.engine.storage import LocalStorage

from .conftest import dump, execute, flow_path, ts

# ----------------------------------------------------------------------------- state.*


def test_state_persists_across_executions_per_flow_and_per_namespace(storage_dir: Path):
    with DagsterInstance.ephemeral() as instance:
        first = execute(flow_path("state"), instance=instance, file=flow_path("state", "counter.yaml"))
        second = execute(flow_path("state"), instance=instance, file=flow_path("state", "counter.yaml"))
        reader = execute(flow_path("state"), instance=instance, file=flow_path("state", "reader.yaml"))
    assert first.state == second.state == "SUCCESS", dump(first)
    assert first.outputs["before"] == {"count": 0, "data": {}}
    assert first.outputs["after"]["data"] == {"runs": "1", "last": {"execution": first.run_id}}
    # Set merges: the second run replaces `runs` and the nested `last.execution`, keeps the count.
    assert second.outputs["before"]["data"]["runs"] == "1"
    assert second.outputs["bump"]["count"] == 2
    assert second.outputs["after"]["data"] == {"runs": "2", "last": {"execution": second.run_id}}
    uri = second.outputs["bump"]["uri"]
    assert uri.startswith("kestra:///tests/state/counter/states/counter/")
    assert json.loads(LocalStorage(storage_dir).read_bytes(uri)) == second.outputs["after"]["data"]
    # Another flow of the namespace sees only the shared (namespace: true) state; old aliases work.
    assert reader.state == "SUCCESS", dump(reader)
    assert reader.outputs["own"] == {"count": 0, "data": {}}
    assert reader.outputs["shared"] == {"count": 1, "data": {"writer": "counter"}}
    assert reader.outputs["drop"] == {"deleted": True}
    assert reader.outputs["gone"] == {"count": 0, "data": {}}


def test_state_failures_name_the_problem(run_flow):
    get = run_flow("state", "errors.yaml", inputs={"case": "get"})
    assert get.state == "FAILED"
    assert "Unable to find the state file 'never-written' and `errorOnMissing` is set to true" in get.run("get_missing").error
    delete = run_flow("state", "errors.yaml", inputs={"case": "delete"})
    assert delete.state == "FAILED"
    assert "Unable to find the state file 'never-written'" in delete.run("delete_missing").error
    name = run_flow("state", "errors.yaml", inputs={"case": "name"})
    assert name.state == "FAILED"
    assert "property 'name'" in name.run("bad_name").error and "'../escape'" in name.run("bad_name").error


# ----------------------------------------------------------------------------- WaitFor


def test_wait_for_loops_until_the_condition_holds(run_flow):
    out = run_flow("wait_for", "until.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.outputs["poll"] == {"iterationCount": 3}
    assert out.outputs["after"] == {"value": "3/3"}
    counts = out.runs("count")
    assert [r.state for r in counts] == ["SUCCESS"] * 3 and all(r.parent == "poll" for r in counts)
    assert out.outputs["iteration"] == {"value": "2"}  # taskrun.iteration of the last (third) iteration
    gaps = [ts(b.started) - ts(a.ended) for a, b in zip(counts, counts[1:])]
    assert all(gap >= 0.18 for gap in gaps), gaps  # checkFrequency.interval between iterations


def test_wait_for_bounds_warn_or_fail(run_flow):
    out = run_flow("wait_for", "max_reached.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.task_states["lenient"] == "SUCCESS"
    assert out.outputs["lenient"] == {"iterationCount": 2} and len(out.runs("tick")) == 2
    assert "checkFrequency.maxIterations (2) reached" in out.log_text()
    strict = out.run("strict")
    assert strict.state == "FAILED"
    assert "checkFrequency.maxDuration (PT0.3S) reached and failOnMaxReached is true" in strict.error
    assert 2 <= len(out.runs("tock")) <= 5
    assert "not_reached" not in out.task_states and "never" not in out.task_states


def test_wait_for_stops_at_a_failed_child_and_runs_errors(run_flow):
    out = run_flow("wait_for", "child_fails.yaml")
    assert out.state == "FAILED", dump(out)
    assert [r.state for r in out.runs("maybe_fail")] == ["SUCCESS", "FAILED"]
    assert out.outputs["handler"] == {"value": "handled at 2"}
    assert out.task_states["poll"] == "FAILED"


# ----------------------------------------------------------------------------- log.Fetch


def _entries(storage_dir: Path, uri: str) -> list[dict]:
    text = LocalStorage(storage_dir).read_bytes(uri).decode()
    return [json.loads(line) for line in text.splitlines()]


def test_log_fetch_reads_this_executions_task_logs(run_flow, storage_dir: Path, monkeypatch):
    monkeypatch.setenv("KESTRA_SECRET_FETCH_TOKEN", "s3cr3t-value")
    out = run_flow("log_fetch", "fetch.yaml")
    assert out.state == "SUCCESS", dump(out)
    everything = _entries(storage_dir, out.outputs["all"]["uri"])
    assert out.outputs["all"]["size"] == len(everything)
    assert [(e["taskId"], e["level"]) for e in everything] == [("hello", "INFO"), ("error_message", "ERROR")]
    assert everything[0]["message"] == "hello from the flow"
    assert everything[0]["executionId"] == out.run_id and everything[0]["flowId"] == "fetch"
    assert everything[1]["message"] == "token=****** went wrong"  # masked when logged, masked in the file
    assert "s3cr3t-value" not in out.raw_log
    assert out.outputs["all"]["uri"].endswith("/all.ion")
    assert [e["taskId"] for e in _entries(storage_dir, out.outputs["only_hello"]["uri"])] == ["hello"]
    assert [e["taskId"] for e in _entries(storage_dir, out.outputs["errors_only"]["uri"])] == ["error_message"]
    with_debug = _entries(storage_dir, out.outputs["with_debug"]["uri"])
    assert ("debug", "DEBUG") in [(e["taskId"], e["level"]) for e in with_debug]


def test_log_fetch_of_an_unknown_execution_fails_clearly(run_flow):
    out = run_flow("log_fetch", "unknown_execution.yaml")
    assert out.state == "FAILED"
    assert "no execution 'no-such-execution' of flow 'tests.log_fetch.unknown_execution'" in out.run("fetch").error


# ----------------------------------------------------------------------------- ForEachItem


def _parent(**inputs):
    return execute(flow_path("for_each_item"), inputs=inputs, file=flow_path("for_each_item", "parent.yaml"))


def test_for_each_item_runs_the_subflow_per_batch(storage_dir: Path):
    out = _parent(rows=2)
    assert out.state == "SUCCESS", dump(out)
    assert out.outputs["each_items"] == {"numberOfBatches": 3, "iterations": {"CREATED": 0, "RUNNING": 0, "SUCCESS": 3}}
    store = LocalStorage(storage_dir)
    batches = store.read_bytes(out.outputs["each_split"]["splits"]).decode().split()
    assert [store.read_bytes(b).decode() for b in batches] == ["a\nb\n", "c\nd\n", "e\n"]
    merged = [json.loads(line) for line in out.outputs["merged"]["value"].splitlines()]
    assert merged == [{"batch": "0:a,b"}, {"batch": "1:c,d"}, {"batch": "2:e"}]  # taskrun.iteration from 0


def test_for_each_item_transmits_a_failed_batch(storage_dir: Path):
    out = _parent(rows=1, fail_on="3")
    assert out.state == "FAILED", dump(out)
    error = out.run("each").error
    assert "subflow tests.for_each_item.child: batch 4 (execution " in error and "ended FAILED" in error
    assert out.outputs["each_items"] == {
        "numberOfBatches": 5, "iterations": {"CREATED": 0, "RUNNING": 0, "SUCCESS": 4, "FAILED": 1}}
    assert "each_merge" not in out.outputs and "merged" not in out.task_states  # as Kestra: no merge


def test_for_each_item_without_wait_only_starts_the_batches(storage_dir: Path):
    out = execute(flow_path("for_each_item"), file=flow_path("for_each_item", "parent_nowait.yaml"))
    assert out.state == "SUCCESS", dump(out)
    # batch.rows defaults to 1; Kestra counts batches it did not wait for as SUCCESS
    assert out.outputs["each_items"] == {"numberOfBatches": 3, "iterations": {"RUNNING": 0, "SUCCESS": 3}}
    assert "each_merge" not in out.outputs
