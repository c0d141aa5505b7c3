"""What a Kestra user sees in the Dagster UI, checked on a real webserver (GraphQL) and in Chromium.

One ``dagster dev`` serves the matrix flows of ``tests/flows/ui`` (and the examples' ``flows/``
is not needed here). Each flow is launched through GraphQL, exactly as the Launchpad does, and
the test reads back what the UI reads: the job's top-level nodes, each step's status, the
failure events' messages (which must carry no Python stack), the run's tags and metadata.

* a failure inside Parallel inside Sequential: the failed tasks' own steps are red, the tasks
  after them are SKIPPED, ``errors``/``finally`` run as steps of their named sub-graphs;
* If/Switch: the branch not taken is SKIPPED;
* ForEach: one mapped step per item (keyed by index and value), the failing item red, the loop stops;
* AllowFailure: WARNING, the Dagster run succeeds;
* retries: every attempt is a step attempt; metrics become step and run metadata;
* a script exiting 1: the step's failure says what the script said, no stack;
* an out-of-range input from the Launchpad: refused by ``kestra_start`` before any task, tagged;
* Pause: the flow is split into part jobs, the first run ends with ``kestra/state=PAUSED``.

The Chromium check opens the run page of the nested failure and finds the failed step there.
``KESTRA_UI_SCREENSHOTS=dir`` keeps the screenshots (README's tour uses them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_dagster_dev import (
    LOCATION, REPOSITORY, DagsterDev, _chromium, _chromium_or_skip, _free_port, _instance_yaml, _stop_group,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "tests" / "flows" / "ui"
RUN_TIMEOUT_S = 120

JOB_NODES = """
query ($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { solids { name definition { __typename name } } }
    ... on PythonError { message }
  }
}
"""

RUN = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status tags { key value }
      stepStats { stepKey status attempts { startTime } }
    }
  }
}
"""

EVENTS = """
query ($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ExecutionStepFailureEvent { error { message stack className } failureMetadata { metadataEntries { label } } }
        ... on RunFailureEvent { error { message stack } }
        ... on ExecutionStepOutputEvent { outputName metadataEntries { label ... on FloatMetadataEntry { floatValue } ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr } } }
      }
    }
  }
}
"""

LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui_runs")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(_instance_yaml(), home / "dagster.yaml")
    flows = tmp / "flows"
    shutil.copytree(MATRIX, flows)
    counter = tmp / "attempts"
    retry = flows / "retries_then_succeeds.yaml"
    retry.write_text(retry.read_text().replace("$KD_UI_COUNTER", str(counter)))
    workspace = tmp / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: kestra_dagster.definitions\n"
                         f"      location_name: {LOCATION}\n      working_directory: {REPO}\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "KESTRA_FLOWS_DIR": str(flows), "PYTHONUNBUFFERED": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    log = tmp / "dagster_dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    dev = DagsterDev(proc, port, log, flows)
    try:
        dev.wait_loaded(180)
        yield dev
    finally:
        dev.http.close()
        left = _stop_group(proc)
        assert not left, f"processes left in dagster dev's group: {left}"


def _selector(job: str) -> dict:
    return {"pipelineName": job, "repositoryName": REPOSITORY, "repositoryLocationName": LOCATION}


def launch(server: DagsterDev, job: str, run_config: dict | None = None) -> dict:
    """Launch like the Launchpad does and wait for the end; the run, its steps and events."""
    data = server.graphql(LAUNCH, {"params": {"selector": _selector(job), "runConfigData": run_config or {},
                                              "mode": "default"}})["launchPipelineExecution"]
    assert data["__typename"] == "LaunchRunSuccess", data
    run_id = data["run"]["runId"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = server.graphql(RUN, {"runId": run_id})["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}:\n{server.log_tail()}"
        time.sleep(0.5)
    events = server.graphql(EVENTS, {"runId": run_id})["logsForRun"]["events"]
    return {
        "id": run_id, "status": run["status"], "tags": {t["key"]: t["value"] for t in run["tags"]},
        "steps": {s["stepKey"]: s["status"] for s in run["stepStats"]},
        "attempts": {s["stepKey"]: len(s["attempts"]) for s in run["stepStats"]},
        "failures": [e for e in events if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")],
        "events": events,
    }


def top_nodes(server: DagsterDev, job: str) -> list[str]:
    data = server.graphql(JOB_NODES, {"selector": _selector(job)})["pipelineOrError"]
    return sorted(s["name"] for s in data["solids"])


def assert_no_traceback(run: dict) -> None:
    for event in run["failures"]:
        error = event["error"]
        assert not error["stack"], f"a stack trace reached the UI: {error}"
        assert "Traceback" not in error["message"] and 'File "' not in error["message"], error["message"]


# ----------------------------------------------------------------------------- the matrix


def test_nested_parallel_failure_is_red_where_it_happened(server):
    job = "ui_matrix__nested_parallel_fails"
    # one node per top-level task, errors/finally as named sub-graphs, one start and one end
    assert top_nodes(server, job) == sorted(["kestra_start", "prepare", "stage", "load", "errors", "finally", "kestra_end"])
    run = launch(server, job)
    assert run["status"] == "FAILURE" and run["tags"]["kestra/state"] == "FAILED"
    steps = run["steps"]
    assert steps["prepare"] == "SUCCESS"
    assert steps["stage.fan_out"] == "FAILURE"  # Parallel runs its children in its step (threads)
    assert steps["stage.transform"] == "SKIPPED" and steps["stage.kestra_end"] == "FAILURE"
    assert steps["load"] == "SKIPPED"
    assert steps["errors.alert"] == "SUCCESS" and steps["finally.cleanup"] == "SUCCESS"
    assert steps["kestra_end"] == "SUCCESS"
    assert_no_traceback(run)
    messages = [e["error"]["message"] for e in run["failures"] if e["__typename"] == "ExecutionStepFailureEvent"]
    assert any("Task 'fan_out' (Parallel) ended FAILED" in m for m in messages), messages
    table = [e.get("mdStr") for ev in run["events"] if ev["__typename"] == "ExecutionStepOutputEvent"
             for e in ev["metadataEntries"] if e["label"] == "kestra/task_runs"]
    assert any("| extract_b |  | FAILED |" in (t or "") for t in table), table


def test_if_and_switch_skip_the_branches_not_taken(server):
    run = launch(server, "ui_matrix__branches", {"inputs": {"env": "prod"}})
    assert run["status"] == "SUCCESS"
    steps = run["steps"]
    assert steps["check.on_prod"] == "SUCCESS" and steps["check.on_other"] == "SKIPPED"
    assert steps["route.deploy_prod"] == "SUCCESS"
    assert steps["route.deploy_dev"] == "SKIPPED" and steps["route.deploy_default"] == "SKIPPED"
    other = launch(server, "ui_matrix__branches", {"inputs": {"env": "qa"}})
    assert other["steps"]["check.on_other"] == "SUCCESS" and other["steps"]["check.on_prod"] == "SKIPPED"
    assert other["steps"]["route.deploy_default"] == "SUCCESS"


def test_foreach_items_are_mapped_steps_and_a_failing_item_stops_the_loop(server):
    run = launch(server, "ui_matrix__foreach_item_fails")
    assert run["status"] == "FAILURE" and run["tags"]["kestra/state"] == "FAILED"
    steps = run["steps"]
    assert steps["each.work[0_a]"] == "SUCCESS"
    assert steps["each.work[1_b]"] == "FAILURE"  # the failing item's own step is red
    assert steps["each.kestra_end"] == "FAILURE"
    # concurrencyLimit 1: Kestra stops the loop at its first failed item
    values = [e.get("text") for ev in run["events"] if ev["__typename"] == "ExecutionStepOutputEvent"
              for e in ev["metadataEntries"] if e["label"] == "kestra/state"]
    assert "NOT_RUN" in values
    assert_no_traceback(run)
    message = next(e for e in run["failures"] if e["__typename"] == "ExecutionStepFailureEvent")["error"]["message"]
    assert "Task 'work' (Fail) ended FAILED: item b is broken" in message


def test_allow_failure_ends_warning_and_the_run_succeeds(server):
    run = launch(server, "ui_matrix__allow_failure_warns")
    assert run["status"] == "SUCCESS"
    assert run["tags"]["kestra/state"] == "WARNING"
    steps = run["steps"]
    assert steps["tolerant.flaky_call"] == "SUCCESS"  # routed, not red: Kestra does not fail the execution
    assert steps["tolerant.skipped_after"] == "SKIPPED"
    assert steps["goes_on"] == "SUCCESS"
    states = [e.get("text") for ev in run["events"] if ev["__typename"] == "ExecutionStepOutputEvent"
              for e in ev["metadataEntries"] if e["label"] == "kestra/state"]
    assert "FAILED" in states and "WARNING" in states


def test_retries_are_step_attempts_and_metrics_are_metadata(server):
    run = launch(server, "ui_matrix__retries_then_succeeds")
    assert run["status"] == "SUCCESS", run
    assert run["attempts"]["flaky"] == 3
    values = {e["label"]: e.get("floatValue") for ev in run["events"] if ev["__typename"] == "ExecutionStepOutputEvent"
              for e in ev["metadataEntries"]}
    assert values.get("metric/rows{table=a}") == 12.0  # counters summed, on the step and the run


def test_script_failure_shows_what_the_script_said_without_a_stack(server):
    run = launch(server, "ui_matrix__script_fails")
    assert run["status"] == "FAILURE"
    assert run["steps"]["broken_script"] == "FAILURE"
    assert run["steps"]["errors.notify"] == "SUCCESS" and run["steps"]["finally.tidy"] == "SUCCESS"
    assert_no_traceback(run)
    step_failure = next(e for e in run["failures"] if e["__typename"] == "ExecutionStepFailureEvent")
    message = step_failure["error"]["message"]
    assert "Task 'broken_script' (Commands) ended FAILED" in message
    assert "permission denied on users" in message  # the last log lines come with it


def test_out_of_range_launchpad_input_is_refused_before_any_task(server):
    run = launch(server, "ui_matrix__script_fails", {"inputs": {"times": 20}})
    assert run["status"] == "FAILURE"
    assert run["tags"]["kestra/state"] == "FAILED"
    assert run["steps"]["kestra_start"] == "FAILURE"
    assert all(status == "SKIPPED" for key, status in run["steps"].items() if key != "kestra_start"), run["steps"]
    assert_no_traceback(run)
    message = next(e for e in run["failures"] if e["__typename"] == "ExecutionStepFailureEvent")["error"]["message"]
    from kestra_dagster.engine.inputs import resolve_inputs
    from kestra_dagster.model.loader import load_flow_file

    flow = load_flow_file(str(MATRIX / "script_fails.yaml")).flow
    with pytest.raises(Exception) as cli_error:  # the CLI's check, same words
        resolve_inputs(flow, {"times": 20})
    assert str(cli_error.value) in message


def test_pause_splits_the_flow_into_part_jobs(server):
    assert top_nodes(server, "ui_matrix__pause_split") == sorted(["kestra_start", "before", "wait_for_ok", "kestra_end"])
    assert top_nodes(server, "ui_matrix__pause_split__after_wait_for_ok") == sorted(["wait_for_ok", "after", "kestra_end"])
    run = launch(server, "ui_matrix__pause_split")
    assert run["status"] == "SUCCESS" and run["tags"]["kestra/state"] == "PAUSED"


def test_run_page_shows_the_failed_nested_step_in_chromium(server, tmp_path):
    binary = _chromium_or_skip()
    run = launch(server, "ui_matrix__nested_parallel_fails")
    url = f"{server.base}/runs/{run['id']}"
    shot = tmp_path / "run.png"
    _chromium(binary, tmp_path / "p1", f"--screenshot={shot}", "--window-size=1600,1000", url)
    assert shot.exists() and shot.stat().st_size > 10_000
    dom = _chromium(binary, tmp_path / "p2", "--dump-dom", url).stdout
    # The run page's step list: the failed nested task is under "Errored", not "Succeeded".
    errored = dom.find("Errored (")
    assert errored >= 0, f"no 'Errored' section on the run page: {dom[:2000]}"
    succeeded = dom.find("Succeeded (", errored)
    section = dom[errored:succeeded if succeeded > errored else None]
    assert "stage.fan_out" in section, section[:2000]
    assert "prepare" not in section
    keep = os.environ.get("KESTRA_UI_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "run-nested-failure.png")
        graph = tmp_path / "graph.png"
        _chromium(binary, tmp_path / "p3", f"--screenshot={graph}", "--window-size=1600,1000",
                  f"{server.base}/locations/{LOCATION}/jobs/ui_matrix__nested_parallel_fails")
        shutil.copy(graph, Path(keep) / "job-graph.png")
