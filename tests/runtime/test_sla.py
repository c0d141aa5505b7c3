"""Flow ``sla``: MAX_DURATION stops a run that runs too long, EXECUTION_ASSERTION is checked at its end.

Behaviours as in Kestra: FAIL ends the execution FAILED, CANCEL ends it CANCELLED, NONE only adds
the SLA's labels (which every violation adds, as ``kestra.label/<key>`` run tags).
"""

from __future__ import annotations

import time

import httpx
import pytest

from kestra_dagster.compiler.naming import label_tag
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import parse_flow
from kestra_dagster.testing import LocalDeployment

from .conftest import dump, ts


def _timed(run_flow, name: str, **kwargs):
    started = time.monotonic()
    out = run_flow("sla", name, **kwargs)
    return out, time.monotonic() - started


def test_max_duration_fail_stops_the_running_tasks_and_fails_the_execution(run_flow):
    out, seconds = _timed(run_flow, "max_duration_fail.yaml")
    assert out.state == "FAILED", dump(out)
    assert seconds < 15  # not the 30 s the sleeps ask for
    assert out.task_states["before"] == "SUCCESS"
    killed = out.run("slow_a")
    assert killed.state == "KILLED" and out.run("slow_b").state == "KILLED"
    assert killed.error.startswith("SLA 'quick' violated: execution duration of ")
    assert "exceeds the maximum duration of PT1S" in killed.error
    assert ts(killed.ended) - ts(out.execution.start_date) < 5  # stopped about when the SLA said
    assert "after" in out.steps("STEP_SKIPPED")  # nothing starts after the stop
    assert out.task_states["on_error"] == "KILLED"  # errors do not run on a killed execution
    assert out.outputs["notify"] == {"value": "ended FAILED"}  # afterExecution still runs, and sees it
    assert out.tags["kestra/state"] == "FAILED"
    assert out.tags[label_tag("sla")] == "missed"
    assert not out.success  # red in Dagster too
    assert "SLA 'quick' violated" in out.log_text()
    assert "execution ended FAILED by SLA 'quick' (behavior FAIL)" in out.log_text()


def test_max_duration_cancel_ends_the_execution_cancelled(run_flow):
    out, seconds = _timed(run_flow, "max_duration_cancel.yaml")
    assert out.state == "CANCELLED", dump(out)
    assert seconds < 15
    assert out.task_states == {"slow": "KILLED"}
    assert out.tags["kestra/state"] == "CANCELLED"


def test_max_duration_none_only_adds_the_labels(run_flow):
    out = run_flow("sla", "max_duration_none.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.task_states == {"slow": "SUCCESS", "done": "SUCCESS"}  # the run went on
    assert out.tags[label_tag("sla")] == "late"
    assert "SLA 'quick' violated" in out.log_text()


def test_max_duration_met_changes_nothing(run_flow):
    out = run_flow("sla", "max_duration_ok.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert label_tag("sla") not in out.tags
    assert "SLA" not in out.log_text()


@pytest.mark.parametrize("mode, state, label", [
    ("PASS", "SUCCESS", None),
    ("CANCEL", "CANCELLED", None),
    ("FAIL", "FAILED", None),  # the assertion reads a task output
    ("LABEL", "SUCCESS", "violated"),
])
def test_execution_assertion_is_checked_at_the_end(run_flow, mode, state, label):
    out = run_flow("sla", "assertion.yaml", inputs={"mode": mode})
    assert out.state == state, dump(out)
    assert out.tags["kestra/state"] == state
    assert out.tags.get(label_tag("sla")) == label
    assert out.task_states == {"compute": "SUCCESS"}


def test_an_assertion_that_cannot_render_is_a_violation(run_flow):
    out = run_flow("sla", "assertion_broken.yaml")
    assert out.state == "FAILED", dump(out)
    assert "SLA 'broken' violated: assertion could not be evaluated" in out.log_text()


@pytest.mark.parametrize("sla, message", [
    ("{id: s, type: MAX_DURATION}", "SLA 's' of type MAX_DURATION needs a duration"),
    ("{id: s, type: MAX_DURATION, duration: soon}", "expected an ISO-8601 duration"),
    ("{id: s, type: EXECUTION_ASSERTION}", "SLA 's' of type EXECUTION_ASSERTION needs an assert expression"),
    ("{id: s, type: MAX_DURATION, duration: PT1S, behavior: WARN}", "behavior"),
])
def test_an_incomplete_sla_is_rejected_at_load_time(sla, message):
    text = f"id: f\nnamespace: tests.sla\nsla:\n  - {sla}\ntasks:\n  - {{id: t, type: io.kestra.plugin.core.log.Log, message: hi}}\n"
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, "bad.yaml")
    assert message in str(info.value)
    assert "bad.yaml:4" in str(info.value)  # located on the sla line


LAUNCHED = """
id: slow-launched
namespace: demo.sla
sla:
  - {id: quick, type: MAX_DURATION, behavior: FAIL, duration: PT2S, labels: {sla: missed}}
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT60S}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: sla-key}
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_max_duration_stops_a_run_launched_by_the_daemon(tmp_path):
    """The monitor lives in the run worker's process: the same enforcement for launched runs."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "slow.yaml").write_text(LAUNCHED)
    with LocalDeployment(tmp_path, flows) as dep:
        url = dep.start_intake()
        dep.start_daemon()
        r = httpx.post(f"{url}/api/v1/executions/webhook/demo.sla/slow-launched/sla-key", json={}, timeout=10)
        assert r.status_code == 200, r.text
        (run,) = dep.wait_for_runs(90, finished=True, job_name="demo_sla__slow_launched")
        assert run.remote_job_origin is not None
        record = dep.instance.get_run_record_by_id(run.run_id)
        assert record.end_time - record.start_time < 30  # not the 60 s the task sleeps
        assert run.tags["kestra/state"] == "FAILED" and run.tags[label_tag("sla")] == "missed"
        assert not run.is_success
