"""Kestra's own valid test flows (``../shared/corpus/kestra-tests/valids``), run end to end.

Every valid flow that uses only supported types runs through ``run_flow_file`` (real Dagster,
in process), unless it is listed in ``EXCLUDED`` with the reason. Each run must end in a
terminal Kestra state without raising. Where the flow makes the outcome obvious (and, for most,
Kestra's own test asserts it), ``EXPECTED`` gives the final state, with the inputs to launch it
with; ``OUTPUT_CHECKS`` adds output facts for a few.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kd_testing import unavailable

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import load_flow_file

VALIDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "kestra-tests" / "valids"
TERMINAL = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"}

_PAUSE = "Pause splits the job at the gate; the run ends PAUSED until the approvals sensor resumes it"
_TRIGGER_VARS = "its tasks read trigger.* variables, which exist only when the trigger fires"
_FOR_EACH_ITEM = "FILE input and a child flow in another corpus file: test_kestra_for_each_item_flow runs it"
_SLOW = "several seconds of retry/sleep delays; the behaviour is covered by tests/runtime with short delays"

EXCLUDED: dict[str, str] = {
    # Pause (approval gate): covered by the approvals tests.
    "each-parallel-pause.yml": _PAUSE,
    "flow-concurrency-cancel-pause.yml": _PAUSE,
    "flow-concurrency-queue-pause.yml": _PAUSE,
    "pause-delay-from-input.yaml": _PAUSE,
    "pause-delay.yaml": _PAUSE,
    "pause-timeout.yaml": _PAUSE,
    "pause.yaml": _PAUSE,
    "pause_no_tasks.yaml": _PAUSE,
    "pause_on_resume.yaml": _PAUSE,
    "pause_on_resume_optional.yaml": _PAUSE,
    "restart_pause_last_failed.yaml": _PAUSE,
    "trigger-flow-with-pause.yaml": _PAUSE,
    # Subflows whose child flows are not in a one-file run (Subflow is covered by test_subflow_workdir).
    "retry-subflow.yaml": "Subflow to a flow that is not loaded; retry of a Subflow needs the child flow",
    "subflow-parent.yaml": "Subflow chain across three corpus files (needs --flows-dir)",
    "subflow-child.yaml": "Subflow chain across three corpus files (needs --flows-dir)",
    "subflow-grand-child.yaml": "Subflow chain across three corpus files; reads labels set by its parent",
    "task-flow.yaml": "Subflow to corpus flows plus a required input",
    "task-flow-dynamic.yaml": "Subflow with a dynamic flowId to corpus flows plus a required input",
    "task-flow-inherited-labels.yaml": "Subflow label inheritance across corpus flows plus a required input",
    "for-each-item-subflow.yaml": "child flow of ForEachItem: needs an items file input",
    "for-each-item-subflow-failed.yaml": "child flow of ForEachItem: needs an items file input",
    "for-each-item-outputs-subflow.yaml": "child flow of ForEachItem: reads an items file input",
    # ForEachItem: a FILE input plus a child flow in another corpus file (run below, with the
    # items file stored first and the corpus folder loaded for the child flows).
    "for-each-item.yaml": _FOR_EACH_ITEM,
    "for-each-item-failed.yaml": _FOR_EACH_ITEM,
    "for-each-item-no-wait.yaml": _FOR_EACH_ITEM,
    "for-each-item-outputs.yaml": _FOR_EACH_ITEM,
    "task-allow-failure-executable-foreachitem.yml": _FOR_EACH_ITEM,
    "task-allow-warning-executable-foreachitem.yml": _FOR_EACH_ITEM,
    # Trigger variables.
    "trigger-flow-listener.yaml": _TRIGGER_VARS,
    "trigger-flow-listener-invalid.yaml": _TRIGGER_VARS,
    "trigger-flow-listener-namespace-condition.yaml": _TRIGGER_VARS,
    "trigger-flow-listener-no-inputs.yaml": _TRIGGER_VARS,
    "trigger-flow-listener-with-pause.yaml": _TRIGGER_VARS,
    "switch.yaml": "required input and a Schedule trigger whose variables the tasks read",
    # Needs things a test sets up in Kestra (files, secrets, KV entries, server config).
    "inputs.yaml": "FILE and SECRET inputs need uploads and a secret backend",
    "inputs-small-files.yaml": "FILE input needs an upload",
    "inputs-large.yaml": "large generated input values",
    "restart_with_inputs.yaml": "FILE input needs an upload",
    "secrets.yaml": "needs SECRET_* environment variables",
    "kv.yaml": "needs KV entries written by Kestra's test first",
    "variables.yaml": "needs envs.* and globals.* from a server configuration",
    "empty-variables.yml": "JSON inputs of Kestra's input tests",
    "labels-update-task.yml": "five required inputs of Kestra's labels test",
    "primitive-labels-flow.yml": "typed label inputs of Kestra's labels test",
    "restart-each.yaml": "restart scenario (needs a restart after a failure)",
    "restart_always_failed.yaml": None,  # runs; listed below with its state
    # Semantics one in-process run cannot show.
    "retry-new-execution-flow-attempts.yml": "behavior CREATE_NEW_EXECUTION starts new executions",
    "retry-new-execution-flow-duration.yml": "behavior CREATE_NEW_EXECUTION starts new executions",
    "retry-new-execution-task-attempts.yml": "behavior CREATE_NEW_EXECUTION starts new executions",
    "retry-new-execution-task-duration.yml": "behavior CREATE_NEW_EXECUTION starts new executions",
    "flow-concurrency-cancel.yml": "concurrency needs two overlapping runs (tests/runtime/test_concurrency.py)",
    "flow-concurrency-fail.yml": "concurrency needs two overlapping runs (tests/runtime/test_concurrency.py)",
    "flow-concurrency-queue.yml": "concurrency needs two overlapping runs (tests/runtime/test_concurrency.py)",
    # Too slow for the suite.
    "retry-failed-flow-attempts.yml": _SLOW,
    "retry-failed-flow-duration.yml": _SLOW,
    "retry-failed-task-attempts.yml": _SLOW,
    "retry-failed-task-duration.yml": _SLOW,
    "retry-flowable-nested-child.yaml": _SLOW,
    "retry-flowable-parallel.yaml": _SLOW,
    "sleep-task-flow.yaml": _SLOW,
}
EXCLUDED = {k: v for k, v in EXCLUDED.items() if v}

# file -> [(inputs, expected final state)], each checked by reading the flow (and, where noted,
# against the state Kestra's own test asserts).
EXPECTED: dict[str, list[tuple[dict, str]]] = {
    "allow-failure.yaml": [({"crash": "yes"}, "FAILED")],  # AllowFailure is WARNING, then the crash case fails
    "dag.yaml": [({}, "SUCCESS")],
    # no such paused execution; resuming a real one: tests/runtime/test_system_tasks.py
    "resume-execution.yaml": [({"executionId": "no-such-execution"}, "FAILED")],
    # in process, no code location runs its schedule; under the daemon: tests/triggers/test_toggle.py
    "trigger-toggle.yaml": [({}, "FAILED")],
    "disable-error.yaml": [({}, "FAILED")],
    "disable-simple.yaml": [({}, "SUCCESS")],
    "each-empty.yaml": [({}, "SUCCESS")],  # EachSequentialTest.eachEmpty
    "each-null.yaml": [({}, "FAILED")],  # EachSequentialTest.eachNull
    "each-object.yaml": [({}, "SUCCESS")],
    "each-object-in-list.yaml": [({}, "SUCCESS")],
    "each-parallel-Integer.yml": [({}, "SUCCESS")],
    "each-parallel-nested.yaml": [({}, "SUCCESS")],
    "each-parallel.yaml": [({}, "SUCCESS")],
    "each-parallel-subflow-notfound.yml": [({}, "FAILED")],
    "each-sequential-nested.yaml": [({}, "SUCCESS")],
    "each-sequential.yaml": [({}, "WARNING")],  # items 2 and 3 fail inside AllowFailure
    "each-switch.yaml": [({}, "SUCCESS")],  # EachSequentialTest.eachSwitch
    "current-output.yaml": [({}, "SUCCESS")],
    "errors.yaml": [({}, "FAILED")],
    "execution.yaml": [({}, "SUCCESS")],
    "fail-on-condition.yaml": [({"param": "fail"}, "FAILED"), ({"param": "success"}, "SUCCESS")],
    "fail-on-switch.yaml": [({"param": "notexist"}, "FAILED"), ({"param": "case1"}, "SUCCESS")],
    "failed-first.yaml": [({}, "FAILED")],  # {{missingVar}}
    "flow-with-array-outputs.yml": [({}, "SUCCESS")],
    "flow-with-outputs.yml": [({}, "SUCCESS")],
    "flow-with-outputs-failed.yml": [({}, "FAILED")],  # flow output renders {{ invalid }}
    "flowable-with-parent-fail.yaml": [({}, "FAILED")],  # a {% for %} tag inside {{ }} cannot render
    "foreach-concurrent.yaml": [({}, "SUCCESS")],
    "foreach-concurrent-no-limit.yaml": [({}, "SUCCESS")],
    "foreach-concurrent-parallel.yaml": [({}, "SUCCESS")],
    "foreach-non-concurrent.yaml": [({}, "SUCCESS")],
    "full.yaml": [({}, "SUCCESS")],
    "if-condition.yaml": [({"param": "true"}, "SUCCESS"), ({"param": "false"}, "SUCCESS")],
    "if-without-else.yaml": [({"param": "false"}, "SUCCESS")],
    "if.yaml": [({"if1": "true", "if2": "false", "if3": "true"}, "SUCCESS")],
    "if-in-flowable.yaml": [({"param": "unused"}, "SUCCESS")],
    "input-log-secret.yaml": [({}, "SUCCESS")],
    "log-to-file.yaml": [({}, "SUCCESS")],
    "logs.yaml": [({}, "SUCCESS")],
    "minimal.yaml": [({}, "SUCCESS")],
    "minimal-bis.yaml": [({}, "SUCCESS")],
    "minimal2.yaml": [({}, "SUCCESS")],
    "npe-labels-update-task.yml": [({}, "SUCCESS")],
    "output-values.yml": [({}, "SUCCESS")],
    "parallel.yaml": [({}, "SUCCESS")],
    "parallel-nested.yaml": [({}, "SUCCESS")],
    "restart_always_failed.yaml": [({}, "FAILED")],
    "restart_last_failed.yaml": [({}, "SUCCESS")],  # first attempt: 'ok'
    "restart_local_errors.yaml": [({}, "FAILED")],
    "retry-expo.yaml": [({}, "FAILED")],
    "retry-fail.yaml": [({}, "FAILED")],
    "retry-failed.yaml": [({}, "FAILED")],
    "retry-flowable.yaml": [({}, "FAILED")],
    "retry-flowable-child.yaml": [({}, "FAILED")],
    "retry-random.yaml": [({}, "FAILED")],
    "retry-success.yaml": [({}, "WARNING")],  # succeeds on attempt 3, warningOnRetry
    "retry-success-first-attempt.yaml": [({}, "SUCCESS")],
    "return.yaml": [({}, "SUCCESS")],
    "sequential.yaml": [({}, "SUCCESS")],
    "sequential-with-global-errors.yaml": [({}, "FAILED")],
    "sequential-with-local-errors.yaml": [({}, "FAILED")],
    "sleep.yml": [({}, "SUCCESS")],
    "sla-max-duration-fail.yaml": [({}, "FAILED")],  # SLATestCase.maxDurationSLAShouldFail
    "sla-max-duration-ok.yaml": [({}, "SUCCESS")],  # SLATestCase.maxDurationSLAShouldPass
    # SLATestCase.executionConditionSLAShouldPass / ShouldCancel / ShouldLabel
    "sla-execution-condition.yaml": [({}, "SUCCESS"), ({"string": "CANCEL"}, "CANCELLED"), ({"string": "LABEL"}, "SUCCESS")],
    "switch-impossible.yaml": [({"string": "impossible"}, "FAILED")],  # SwitchTest.switchImpossible
    "task-allow-failure-executable-flow.yml": [({}, "WARNING")],
    "task-allow-failure-flowable.yml": [({}, "WARNING")],
    "task-allow-failure-runnable.yml": [({}, "WARNING")],
    "task-allow-warning-executable-flow.yml": [({}, "SUCCESS")],
    "task-allow-warning-flowable.yml": [({}, "SUCCESS")],
    "task-allow-warning-runnable.yml": [({}, "SUCCESS")],
    "task-runif.yml": [({}, "FAILED")],  # the last runIf reads outputs.notexists
    "trigger-multiplecondition-flow-c.yaml": [({}, "FAILED")],
    "variables-invalid.yaml": [({}, "FAILED")],  # {{inputs.invalid}}
    "working-directory.yaml": [({"failed": "false"}, "SUCCESS"), ({"failed": "true"}, "FAILED")],
    "state.yaml": [({"state": "each"}, "SUCCESS")],  # StateTest.each
    # WaitForCaseTest: loop until the condition holds; bounds fail only with failOnMaxReached.
    "waitfor.yaml": [({}, "SUCCESS")],
    "waitfor-max-iterations.yaml": [({}, "FAILED")],
    "waitfor-max-duration.yaml": [({}, "FAILED")],
    "waitfor-no-success.yaml": [({}, "SUCCESS")],
    "waitfor-multiple-tasks.yaml": [({}, "SUCCESS")],
    "waitfor-multiple-tasks-failed.yaml": [({}, "FAILED")],
    "get-log.yaml": [({}, "SUCCESS")],
    "get-log-taskid.yaml": [({}, "SUCCESS")],
    "get-log-executionid.yaml": [({}, "SUCCESS")],
}


def _each_switch(result):
    assert result["outputs"]["2-1-1_switch-number-2"] == {"b": {"2": {"value": "2 b"}}}
    assert result["outputs"]["2-1-1_switch-number-1"] == {"b": {"1": {"value": "1"}}}


def _current_output(result):
    leaf = result["outputs"]["1-1-1_output"]
    assert leaf["v11"]["v21"]["v31"] == {"value": "v11-v21-v31"}
    assert result["outputs"]["1-1-1_return"]["v12"]["v22"]["v32"] == {"value": "return-v12-v22-v32"}


def _array_outputs(result):
    assert result["flowOutputs"] == {"myout": ["1rstValue", "2ndValue"]}


def _runif(result):
    assert result["taskStates"] == {
        "output": "SUCCESS", "executed": "SUCCESS", "notexecuted": "SKIPPED", "willfailedtheflow": "FAILED"}


def _each_sequential(result):
    assert result["taskStates"]["1-2"] == {"value 1": "SUCCESS", "value 2": "FAILED", "value 3": "FAILED"}
    assert result["taskStates"]["failed"] == {"value 1": "SUCCESS", "value 2": "WARNING", "value 3": "WARNING"}


def _if_in_flowable(result):
    assert result["outputs"]["after_if"] == {"value 2": {"value": "After if: value 2"}}


def _if(result):
    states = result["taskStates"]
    assert states["if-1-log"] == "SUCCESS" and states["if-3-log"] == "SUCCESS"
    assert "if-2-log" not in states


def _allow_failure(result):
    states = result["taskStates"]
    assert states["ko"] == "FAILED" and states["1-1-allow-failure"] == "WARNING"
    assert states["1-2-todo"] == "SUCCESS" and states["crash"] == "FAILED"
    assert states["global-error"] == "SUCCESS"


def _errors(result):
    states = result["taskStates"]
    assert states["failed"] == "FAILED"
    assert states["t2"] == "SUCCESS"  # errorLogs() in the errors branch
    assert states["t3-t1-t1-t1-last"] == "SUCCESS"


def _state_each(result):
    # StateTest.each: per-value states start empty; with taskrunValue false the items share one.
    assert result["outputs"]["regetEach1"]["b"]["data"] == {"value": "null-b"}
    assert result["outputs"]["regetEach2"]["b"]["data"] == {"value": "null-a-b"}


def _waitfor_multiple(result):
    assert result["outputs"]["output_values"]["values"]["count"] == "4"


def _waitfor_failed(result):
    assert result["taskStates"]["fail"] == "FAILED" and result["outputs"]["waitfor"] == {"iterationCount": 1}


def _get_log(size):
    def check(result):
        assert result["outputs"]["get-log-task"]["size"] == size
    return check


OUTPUT_CHECKS = {
    "state.yaml": _state_each,
    "waitfor-multiple-tasks.yaml": _waitfor_multiple,
    "waitfor-multiple-tasks-failed.yaml": _waitfor_failed,
    "get-log.yaml": _get_log(2),  # FetchTest: the two Echo lines
    "get-log-taskid.yaml": _get_log(1),  # FetchTest.fetchWithTaskId
    "get-log-executionid.yaml": _get_log(2),
    "errors.yaml": _errors,
    "if-in-flowable.yaml": _if_in_flowable,
    "if.yaml": _if,
    "allow-failure.yaml": _allow_failure,
    "each-switch.yaml": _each_switch,
    "current-output.yaml": _current_output,
    "flow-with-array-outputs.yml": _array_outputs,
    "task-runif.yml": _runif,
    "each-sequential.yaml": _each_sequential,
}


def _supported_files() -> list[str]:
    names = []
    for path in sorted(VALIDS.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            loaded = load_flow_file(path)
        except FlowValidationError:
            continue  # reported by tests/model/test_aliases_and_corpus.py
        if not loaded.unsupported:
            names.append(path.name)
    return names


def _cases() -> list:
    if not VALIDS.is_dir():
        return [pytest.param(None, {}, None, id="corpus-absent")]
    cases = []
    for name in _supported_files():
        if name in EXCLUDED:
            continue
        for i, (inputs, state) in enumerate(EXPECTED.get(name, [({}, None)])):
            cases.append(pytest.param(name, inputs, state, id=f"{name}-{i}" if i else name))
    return cases


CASES = _cases()


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, inputs, expected", CASES)
def test_kestra_valid_flow_runs(name, inputs, expected):
    if name is None:
        unavailable(f"{VALIDS} is absent (../shared is not beside this checkout)")
    result = run_flow_file(str(VALIDS / name), inputs)
    assert result["state"] in TERMINAL, result
    if expected is not None:
        assert result["state"] == expected, result["taskStates"]
    check = OUTPUT_CHECKS.get(name)
    if check is not None:
        check(result)


def test_tables_name_real_corpus_files():
    if not VALIDS.is_dir():
        unavailable(f"{VALIDS} is absent (../shared is not beside this checkout)")
    names = {p.name for p in VALIDS.iterdir()}
    assert set(EXCLUDED) <= names and set(EXPECTED) <= names
    assert not set(EXCLUDED) & set(EXPECTED)


# ForEachItemCaseTest's final states; 10 items, 4 rows a batch (for-each-item.yaml reads `batch`).
FOR_EACH_ITEM = {
    "for-each-item.yaml": ({"batch": 4}, "SUCCESS"),
    "for-each-item-no-wait.yaml": ({}, "SUCCESS"),
    "for-each-item-failed.yaml": ({}, "FAILED"),
    "for-each-item-outputs.yaml": ({}, "SUCCESS"),
    "task-allow-failure-executable-foreachitem.yml": ({}, "WARNING"),
    "task-allow-warning-executable-foreachitem.yml": ({}, "SUCCESS"),
}


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(FOR_EACH_ITEM))
def test_kestra_for_each_item_flow(name, storage_dir):
    if not VALIDS.is_dir():
        unavailable(f"{VALIDS} is absent (../shared is not beside this checkout)")
    from kestra_dagster.engine.storage import LocalStorage

    store = LocalStorage(storage_dir)
    lines = "".join(f"item {i}\n" for i in range(1, 11)).encode()
    items = store.put_bytes_at(["io", "kestra", "tests", "uploads"], lines, "items.txt")
    inputs, expected = FOR_EACH_ITEM[name]
    result = run_flow_file(str(VALIDS / name), {"file": items, **inputs}, flows_dir=str(VALIDS))
    assert result["state"] == expected, result["taskStates"]
    if expected == "SUCCESS" and "allow" not in name:
        iterations = result["outputs"]["each_items"]["iterations"]
        assert result["outputs"]["each_items"]["numberOfBatches"] == 3
        assert iterations == ({"RUNNING": 0, "SUCCESS": 3} if "no-wait" in name
                              else {"CREATED": 0, "RUNNING": 0, "SUCCESS": 3})
    if name == "for-each-item-failed.yaml":  # ForEachItemCaseTest.forEachItemFailed: every batch failed, no merge
        assert result["outputs"]["each_items"]["iterations"] == {"CREATED": 0, "RUNNING": 0, "FAILED": 3}
        assert "each_merge" not in result["outputs"]
    if name == "for-each-item-outputs.yaml":  # each batch's flow output `value` is its file's text
        merged = store.read_bytes(result["outputs"]["each_merge"]["subflowOutputs"]).decode().splitlines()
        assert [json.loads(line)["value"] for line in merged] == [
            "item 1\nitem 2\nitem 3\nitem 4\n", "item 5\nitem 6\nitem 7\nitem 8\n", "item 9\nitem 10\n"]
        assert result["outputs"]["return"]["value"] == result["outputs"]["each_merge"]["subflowOutputs"]
