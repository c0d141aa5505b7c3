"""The Pause/Approval gate, part by part, on a real SQLite Dagster instance (no daemon).

Each test runs part 1 in process, decides through the same service the API and CLI use (or lets
the gate expire), evaluates the flow's resume sensor as the daemon would, and runs the part it
requests. ``test_approval_browser.py`` does the same under the daemon, through HTTP and Chromium.
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from kestra_dagster.approvals.api import ApprovalAuth, build_routes, decide
from kestra_dagster.approvals.store import ApprovalStore, DecisionRefused
from kestra_dagster.compiler.definitions import build_definitions
from kestra_dagster.compiler.ops import END_NODE, OK

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "kestra-tests" / "newer"


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    inst = dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("home")))
    yield inst
    inst.dispose()


class Gate:
    """One flow file compiled, with helpers to run its parts on ``instance``."""

    def __init__(self, tmp_path: Path, instance, text: str | None = None, corpus: str | None = None):
        flows = tmp_path / "flows"
        flows.mkdir(exist_ok=True)
        if corpus:
            from kd_testing import require_shared

            require_shared()
            shutil.copy(CORPUS / corpus, flows / corpus)
        else:
            (flows / "flow.yaml").write_text(text)
        self.defs = build_definitions([flows])
        self.instance = instance
        self.job = next(j for j in self.defs.resolve_all_job_defs() if "__after_" not in j.name
                        and not j.name.startswith("__"))
        self.sensor = next(s for s in self.defs.sensors if s.name.endswith("__resume"))

    def start(self, inputs=None):
        result = self.job.execute_in_process(instance=self.instance, run_config={"inputs": inputs or {}})
        return self.instance.get_run_by_id(result.run_id)

    def tick(self):
        return self.sensor.evaluate_tick(dg.build_sensor_context(instance=self.instance)).run_requests

    def resume(self):
        (request,) = self.tick()
        job = self.defs.resolve_job_def(request.job_name)
        result = job.execute_in_process(instance=self.instance, run_config=request.run_config, tags=request.tags,
                                        raise_on_error=False)
        run = self.instance.get_run_by_id(result.run_id)
        try:
            execution = result.output_for_node(END_NODE, OK)
        except Exception:  # noqa: BLE001
            execution = None
        return run, execution, result


def test_approval_basic_waits_then_approve_runs_the_rest(tmp_path, instance):
    gate = Gate(tmp_path, instance, corpus="approval-basic.yaml")
    part1 = gate.start()
    assert part1.tags["kestra/state"] == "PAUSED" and part1.status == dg.DagsterRunStatus.SUCCESS
    assert part1.tags["kestra/waiting_for"] == "approval"
    assert gate.tick() == []  # default is safe: nothing resumes without a decision
    record = decide(instance, part1.run_id, True, "alice", "ship it")
    assert record.decided_by == "alice"
    run, execution, _ = gate.resume()
    assert execution.final_state == "SUCCESS" and run.tags["kestra/state"] == "SUCCESS"
    assert execution.execution_id == part1.run_id == run.tags["kestra/execution_id"]  # one Kestra execution
    assert run.tags["kestra/decided_by"] == "alice" and run.tags["kestra/decision"] == "APPROVED"
    assert instance.get_run_by_id(part1.run_id).tags["kestra/decided_by"] == "alice"  # mirrored on the paused run
    out = execution.outputs["approval"]
    assert out["decision"] == "APPROVED" and out["by"] == "alice" and out["comment"] == "ship it" and out["on"]
    assert execution.task_states() == {"notify": "SUCCESS", "approval": "SUCCESS", "approved": "SUCCESS",
                                       "last": "SUCCESS"}
    # decider and time are in the resumed run's event log too
    logs = "\n".join(e.user_message for e in instance.all_logs(run.run_id) if e.user_message)
    assert "APPROVED by alice" in logs
    # a decision is recorded once
    with pytest.raises(DecisionRefused, match="already APPROVED by alice"):
        decide(instance, part1.run_id, True, "bob")
    assert gate.tick() == []  # and starts exactly one run


def test_deny_cancels(tmp_path, instance):
    gate = Gate(tmp_path, instance, corpus="approval-deny-behavior-cancel.yaml")
    part1 = gate.start()
    decide(instance, part1.run_id, False, "bob", "not today")
    run, execution, result = gate.resume()
    assert run.tags["kestra/state"] == "CANCELLED"
    states = execution.task_states() if execution else {}
    assert states.get("denied") == "SUCCESS" and "after" not in states
    assert "after" not in [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]


def test_expiry_follows_expire_behavior_and_refuses_late_decisions(tmp_path, instance):
    gate = Gate(tmp_path, instance, corpus="approval-expire.yaml")
    part1 = gate.start()
    assert part1.tags["kestra/paused_until"]
    time.sleep(1.2)
    with pytest.raises(DecisionRefused, match="expired"):
        decide(instance, part1.run_id, True, "late-larry")
    run, execution, _ = gate.resume()  # the sensor expires it and starts the next part
    assert run.tags["kestra/decision"] == "EXPIRED" and run.tags["kestra/decided_by"] == "system"
    assert run.tags["kestra/state"] == "CANCELLED"  # expireBehavior defaults to CANCEL
    assert execution.task_states()["cleanup"] == "SUCCESS"  # the task's own finally still runs


def test_approval_inputs_are_validated_and_become_outputs(tmp_path, instance):
    gate = Gate(tmp_path, instance, corpus="approval-inputs.yaml")
    part1 = gate.start()
    with pytest.raises(DecisionRefused, match="'reason'.*required") as info:
        decide(instance, part1.run_id, True, "alice")
    assert info.value.status == 422
    with pytest.raises(DecisionRefused, match="unknown input"):
        decide(instance, part1.run_id, True, "alice", inputs={"reason": "ok", "extra": 1})
    decide(instance, part1.run_id, True, "alice", inputs={"reason": "CVE fixed"})
    _, execution, _ = gate.resume()
    assert execution.outputs["approval"]["inputs"] == {"reason": "CVE fixed"}


PAUSE_FLOW = """
id: pause-{behavior_lower}
namespace: tests.gate
tasks:
  - id: before
    type: io.kestra.plugin.core.debug.Return
    format: built
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT0.5S
    behavior: {behavior}
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.before.value }}}} then resumed"
errors:
  - id: on_error
    type: io.kestra.plugin.core.log.Log
    message: failed
finally:
  - id: always
    type: io.kestra.plugin.core.log.Log
    message: done
"""


@pytest.mark.parametrize("behavior,final,after_runs,errors_run", [
    ("RESUME", "SUCCESS", True, False),
    ("WARN", "WARNING", True, False),
    ("CANCEL", "CANCELLED", False, False),
    ("FAIL", "FAILED", False, True),
])
def test_pause_duration_behaviors(tmp_path, instance, behavior, final, after_runs, errors_run):
    gate = Gate(tmp_path, instance, PAUSE_FLOW.format(behavior=behavior, behavior_lower=behavior.lower()))
    part1 = gate.start()
    assert part1.tags["kestra/state"] == "PAUSED"
    time.sleep(0.6)
    run, execution, result = gate.resume()
    assert run.tags["kestra/state"] == final
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert ("after" in started) == after_runs
    assert ("errors.on_error" in started) == errors_run
    assert "finally.always" in started  # finally runs when the execution ends, whatever the behaviour
    if after_runs:
        assert execution.outputs["after"]["value"] == "built then resumed"
        assert execution.outputs["wait"]["resumed"]["by"] == "system"


def test_manual_resume_before_duration_with_on_resume_inputs(tmp_path, instance):
    gate = Gate(tmp_path, instance, """
id: manual
namespace: tests.gate
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT1H
    behavior: FAIL
    onResume:
      - {id: approved_digest, type: STRING}
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.wait.onResume.approved_digest }}"
""")
    part1 = gate.start()
    decide(instance, part1.run_id, True, "carol", inputs={"approved_digest": "sha256:beef"})
    run, execution, _ = gate.resume()
    assert run.tags["kestra/state"] == "SUCCESS"  # a manual resume always succeeds
    assert execution.outputs["after"]["value"] == "sha256:beef"
    assert execution.outputs["wait"]["resumed"]["by"] == "carol"


def test_gate_with_false_run_if_is_skipped_without_a_decision(tmp_path, instance):
    gate = Gate(tmp_path, instance, """
id: optional-gate
namespace: tests.gate
inputs:
  - {id: requireApproval, type: BOOLEAN, defaults: false}
tasks:
  - id: approval
    type: io.kestra.plugin.core.flow.Pause
    runIf: "{{ inputs.requireApproval }}"
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: went on
""")
    gate.start()
    run, execution, _ = gate.resume()  # no decision needed
    assert run.tags["kestra/state"] == "SUCCESS"
    assert execution.task_states() == {"approval": "SKIPPED", "after": "SUCCESS"}


def test_cli_resume(tmp_path, instance, monkeypatch):
    from kestra_dagster.cli import main

    gate = Gate(tmp_path, instance, corpus="approval-basic.yaml")
    part1 = gate.start()
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    runner = CliRunner()
    ok = runner.invoke(main, ["resume", part1.run_id, "--by", "dave", "--comment", "fine"])
    assert ok.exit_code == 0, ok.output
    assert "APPROVED 'approval'" in ok.output and "dave" in ok.output
    again = runner.invoke(main, ["resume", part1.run_id, "--by", "erin", "--deny"])
    assert again.exit_code == 1 and "already APPROVED by dave" in again.output
    missing = runner.invoke(main, ["resume", "no-such-execution", "--by", "erin"])
    assert missing.exit_code == 1 and "no Pause/Approval gate" in missing.output
    assert ApprovalStore(instance).waiting_for(part1.run_id).decided_by == "dave"


def test_api_records_the_authenticated_reviewer(tmp_path, instance):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.applications import Starlette
        from starlette.testclient import TestClient

    gate = Gate(tmp_path, instance, corpus="approval-basic.yaml")
    part1 = gate.start()
    auth = ApprovalAuth(users={"alice": "wonderland"}, trusted_header="X-Kestra-User", proxy_secret="front-secret")
    app = Starlette(routes=build_routes(auth=auth, instance=instance))
    url = f"/api/v1/executions/{part1.run_id}/resume"
    with TestClient(app) as client:
        assert client.post(url, json={"by": "mallory"}).status_code == 401  # a name in the body is not identity
        assert client.post(url, json={}, auth=("alice", "wrong")).status_code == 401
        listed = client.get("/api/v1/approvals?status=WAITING", auth=("alice", "wonderland")).json()
        assert any(r["executionId"] == part1.run_id for r in listed)
        ok = client.post(url, json={"by": "mallory"}, auth=("alice", "wonderland"))
        assert ok.status_code == 200, ok.text
        assert ok.json()["by"] == "alice"
        second = client.post(url, json={}, headers={"X-Kestra-User": "bob", "X-Kestra-Proxy-Secret": "front-secret"})
        assert second.status_code == 409 and "already APPROVED by alice" in second.json()["message"]


def test_the_compiler_splits_at_both_gate_types():
    """The translator splits flows at gates without importing the approval models: its type names
    must stay those of the gate tasks."""
    from kestra_dagster.approvals.task import Approval
    from kestra_dagster.compiler.translator import GATE_TYPES
    from kestra_dagster.registry import get_registry

    assert Approval.kestra_type in GATE_TYPES
    assert get_registry().resolve("io.kestra.plugin.core.flow.Pause").type in GATE_TYPES
