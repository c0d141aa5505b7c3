"""Kestra's system tasks against a real SQLite Dagster instance: PurgeExecutions (and the
storage.Purge alias), PurgeLogs, PurgeKV, execution.Resume and trigger.Toggle."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from kestra_dagster.approvals.store import ApprovalStore
from kestra_dagster.compiler.definitions import build_definitions
from kestra_dagster.instance_kv import DagsterInstanceKV

from .conftest import execute

WRITER = """
id: {id}
namespace: {ns}
tasks:
  - id: file
    type: io.kestra.plugin.core.storage.Write
    content: "data of {id}"
    extension: .txt
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{id} says hi"
  - id: quiet
    type: io.kestra.plugin.core.log.Log
    level: DEBUG
    message: "{id} debug line"
"""


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "home").mkdir()
    inst = dg.DagsterInstance.local_temp(str(tmp_path / "home"))
    yield inst
    inst.dispose()


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def system_flow(folder: Path, name: str, tasks: str) -> Path:
    """A flow ``name`` in namespace ``system`` (where housekeeping flows live) with these ``tasks``."""
    return write(folder, name, f"id: {name}\nnamespace: system\ntasks:{tasks}")


def run_writer(tmp_path: Path, instance, flow_id: str, ns: str):
    return execute(write(tmp_path / "flows" / ns, flow_id, WRITER.format(id=flow_id, ns=ns)), instance=instance)


def user_lines(instance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id) if e.dagster_event is None]


def test_purge_executions_deletes_matching_finished_executions_and_their_files(tmp_path, instance, storage_dir):
    kept_other = run_writer(tmp_path, instance, "other", "companyx")  # a prefix of the name, not a parent namespace
    team = [run_writer(tmp_path, instance, "a", "company.team") for _ in range(2)]
    child = run_writer(tmp_path, instance, "b", "company.team.sub")
    assert all(o.state == "SUCCESS" for o in [kept_other, *team, child])
    assert (storage_dir / "company" / "team" / "a").is_dir()
    purger = execute(system_flow(tmp_path / "purger", "purge", """
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: company
    endDate: "{{ now() }}"
    states: [SUCCESS]
"""), instance=instance)
    assert purger.state == "SUCCESS", purger.messages
    out = purger.outputs["purge"]
    assert out["executionsCount"] == 3 and out["storagesCount"] == 3
    assert out["logsCount"] >= 6 and out["metricsCount"] >= 0
    for gone in (*team, child):
        assert instance.get_run_by_id(gone.run_id) is None
    assert not any((storage_dir / "company" / "team" / "a").rglob("*.txt"))
    assert instance.get_run_by_id(kept_other.run_id) is not None
    assert instance.get_run_by_id(purger.run_id) is not None  # never itself


def test_purge_filters_by_flow_state_and_dates_and_keeps_running_executions(tmp_path, instance):
    ok = run_writer(tmp_path, instance, "a", "company.team")
    failed = execute(write(tmp_path / "flows" / "f", "f", """
id: f
namespace: company.team
tasks:
  - {id: boom, type: io.kestra.plugin.core.execution.Fail}
"""), instance=instance)
    assert failed.state == "FAILED"
    running = instance.create_run_for_job(job_def=dg.GraphDefinition(name="x").to_job(), run_id=None,
                                          tags={"kestra/namespace": "company.team", "kestra/flow_id": "a"})
    instance.handle_run_event(running.run_id, dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.RUN_START.value, job_name=running.job_name))
    flows = tmp_path / "purgers"
    system_flow(flows, "future", """
  - id: purge
    type: io.kestra.plugin.core.storage.Purge
    namespace: company.team
    flowId: a
    startDate: "{{ now() | dateAdd(1, 'DAYS') }}"
    endDate: "{{ now() | dateAdd(2, 'DAYS') }}"
""")
    nothing = execute(flows, instance=instance, file=flows / "future.yaml")
    assert nothing.outputs["purge"]["executionsCount"] == 0 and instance.get_run_by_id(ok.run_id)
    system_flow(flows, "failed_only", """
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: company.team
    endDate: "{{ now() }}"
    states: [FAILED]
    purgeStorage: false
""")
    only_failed = execute(flows, instance=instance, file=flows / "failed_only.yaml")
    assert only_failed.outputs["purge"]["executionsCount"] == 1
    assert instance.get_run_by_id(failed.run_id) is None and instance.get_run_by_id(ok.run_id) is not None
    system_flow(flows, "all", """
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: company.team
    flowId: a
    endDate: "{{ now() }}"
""")
    everything = execute(flows, instance=instance, file=flows / "all.yaml")
    assert everything.outputs["purge"]["executionsCount"] == 1
    assert instance.get_run_by_id(running.run_id) is not None  # still going: left alone
    assert any("left alone" in m or "were left" in m for m in everything.messages)


def test_purge_executions_without_purging_the_execution_keeps_the_run_and_drops_its_lines(tmp_path, instance):
    kept = run_writer(tmp_path, instance, "a", "company.team")
    assert "a says hi" in " ".join(user_lines(instance, kept.run_id))
    purger = execute(system_flow(tmp_path / "p", "p", """
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: company.team
    endDate: "{{ now() }}"
    purgeExecution: false
    purgeStorage: false
"""), instance=instance)
    assert purger.outputs["purge"]["executionsCount"] == 0 and purger.outputs["purge"]["logsCount"] >= 2
    assert instance.get_run_by_id(kept.run_id) is not None
    assert user_lines(instance, kept.run_id) == []
    steps = {e.step_key for e in instance.all_logs(kept.run_id) if e.is_dagster_event}
    assert {"say", "quiet"} <= steps  # the run page keeps its steps


def test_purge_logs_by_level_keeps_the_other_levels_and_the_steps(tmp_path, instance):
    victim = run_writer(tmp_path, instance, "a", "company.team")
    outsider = run_writer(tmp_path, instance, "a", "elsewhere")
    purger = execute(system_flow(tmp_path / "p", "p", """
  - id: purge
    type: io.kestra.plugin.core.log.PurgeLogs
    namespace: company.team
    flowId: a
    endDate: "{{ now() }}"
    logLevels: [TRACE, DEBUG]
"""), instance=instance)
    assert purger.state == "SUCCESS", purger.messages
    assert purger.outputs["purge"]["count"] >= 1
    lines = " ".join(user_lines(instance, victim.run_id))
    assert "a debug line" not in lines and "a says hi" in lines
    assert "a debug line" in " ".join(user_lines(instance, outsider.run_id))
    assert any(e.is_dagster_event for e in instance.all_logs(victim.run_id))


def test_purge_logs_respects_the_date_window(tmp_path, instance):
    victim = run_writer(tmp_path, instance, "a", "company.team")
    purger = execute(system_flow(tmp_path / "p", "p", """
  - id: purge
    type: io.kestra.plugin.core.log.PurgeLogs
    endDate: "{{ now() | dateAdd(-1, 'HOURS') }}"
"""), instance=instance)
    assert purger.outputs["purge"]["count"] == 0
    assert "a says hi" in " ".join(user_lines(instance, victim.run_id))


@pytest.mark.parametrize("prop", ["namespace", "flowId"])
def test_a_namespace_rendered_empty_does_not_widen_the_purge(tmp_path, instance, prop):
    """Attack: a webhook body steers the namespace; an empty rendering must not mean "every
    namespace" (without this check, every execution of every namespace goes)."""
    victim = run_writer(tmp_path, instance, "a", "company.team")
    flow_line = "flowId: \"{{ trigger.body.flow ?? '' }}\"" if prop == "flowId" else ""
    purger = execute(system_flow(tmp_path / "p", "p", """
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: "{{ trigger.body.ns ?? '' }}"
    FLOW_LINE
    endDate: "{{ now() }}"
""".replace("FLOW_LINE", flow_line)), instance=instance, trigger={"body": {"ns": "company.team"} if prop == "flowId" else {}})
    assert purger.state == "FAILED"
    assert "rendered" in " ".join(purger.messages)
    assert instance.get_run_by_id(victim.run_id) is not None


def test_purge_kv_expired_only_by_default_with_children_and_key_pattern(tmp_path, instance):
    kv = DagsterInstanceKV(instance)
    kv.set("company", "old", 1, ttl_seconds=0.01)
    kv.set("company", "fresh", 2)
    kv.set("company.team", "AI_old", 3, ttl_seconds=0.01)
    kv.set("company.team", "keep_old", 4, ttl_seconds=0.01)
    kv.set("companyx", "old", 5, ttl_seconds=0.01)
    time.sleep(0.05)
    flows = tmp_path / "p"
    system_flow(flows, "p", """
  - id: expired
    type: io.kestra.plugin.core.kv.PurgeKV
    namespaces: [company]
    keyPattern: "*old"
    behavior: {type: key, expiredOnly: true}
""")
    out = execute(flows, instance=instance, file=flows / "p.yaml")
    assert out.state == "SUCCESS", out.messages
    # old, AI_old and keep_old went (expired, under company); fresh stays; companyx is not a child
    assert out.outputs["expired"]["size"] == 3
    assert kv.keys("company") == ["fresh"] and kv.keys("company.team") == []
    system_flow(flows, "all", """
  - id: everything
    type: io.kestra.plugin.core.kv.PurgeKV
    namespacePattern: "company*"
    expiredOnly: false
""")
    out = execute(flows, instance=instance, file=flows / "all.yaml")
    assert out.outputs["everything"]["size"] >= 1 and kv.keys("company") == []


def test_purge_kv_version_behavior_is_refused_at_load(tmp_path):
    from kestra_dagster.compiler.definitions import load_catalog

    system_flow(tmp_path, "v", """
  - id: purge
    type: io.kestra.plugin.core.kv.PurgeKV
    behavior: {type: version, before: "2024-01-01T00:00:00Z"}
""")
    catalog = load_catalog([tmp_path])
    assert "one version per key" in " ".join(catalog.broken.values())


PAUSED = """
id: paused
namespace: company.team
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - {id: digest, type: STRING}
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.wait.onResume.digest }}"
"""

RESUMER = """
id: resumer
namespace: company.ops
inputs:
  - {id: execution, type: STRING, required: false}
tasks:
  - id: go
    type: io.kestra.plugin.core.execution.Resume
    namespace: company.team
    flowId: paused
    EXECUTION
    inputs:
      digest: "sha256:{{ flow.id }}"
"""


@pytest.mark.parametrize("by_id", [True, False], ids=["executionId", "oldest-paused-of-the-flow"])
def test_resume_records_who_resumed_and_the_sensor_runs_the_rest(tmp_path, instance, by_id):
    flows = tmp_path / "flows"
    write(flows, "paused", PAUSED)
    write(flows, "resumer", RESUMER.replace("EXECUTION", "executionId: \"{{ inputs.execution }}\"" if by_id else ""))
    defs = build_definitions([flows])
    paused_job = next(j for j in defs.resolve_all_job_defs() if j.name.startswith("company_team__paused")
                      and "__after_" not in j.name)
    part1 = instance.get_run_by_id(paused_job.execute_in_process(instance=instance).run_id)
    assert part1.tags["kestra/state"] == "PAUSED"
    resumer = execute(flows, instance=instance, file=flows / "resumer.yaml", inputs={"execution": part1.run_id})
    assert resumer.state == "SUCCESS", resumer.messages
    (record,) = ApprovalStore(instance).for_execution(part1.run_id)
    assert record.decision == "APPROVED" and record.decided_by.startswith("flow company.ops.resumer (execution ")
    sensor = next(s for s in defs.sensors if s.name.endswith("__resume") and "paused" in s.name)
    (request,) = sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).run_requests
    result = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags)
    assert instance.get_run_by_id(result.run_id).tags["kestra/state"] == "SUCCESS"
    again = execute(flows, instance=instance, file=flows / "resumer.yaml", inputs={"execution": part1.run_id})
    refusal = "cannot resume: execution " + part1.run_id + " is no longer waiting at 'wait': already APPROVED by flow company.ops.resumer" if by_id else "no execution of flow company.team.paused is paused"
    assert again.state == "FAILED" and refusal in " ".join(again.messages), again.messages


def test_resume_refuses_an_execution_of_another_flow(tmp_path, instance):
    flows = tmp_path / "flows"
    write(flows, "paused", PAUSED)
    write(flows, "resumer", RESUMER.replace("flowId: paused", "flowId: other").replace(
        "EXECUTION", "executionId: \"{{ inputs.execution }}\""))
    defs = build_definitions([flows])
    paused_job = next(j for j in defs.resolve_all_job_defs() if j.name.startswith("company_team__paused")
                      and "__after_" not in j.name)
    part1 = paused_job.execute_in_process(instance=instance)
    out = execute(flows, instance=instance, file=flows / "resumer.yaml", inputs={"execution": part1.run_id})
    assert out.state == "FAILED" and "belongs to flow company.team.paused" in " ".join(out.messages)
    assert ApprovalStore(instance).for_execution(part1.run_id)[0].status == "WAITING"


def test_system_tasks_fail_clearly_without_an_orchestrator(tmp_path):
    from kestra_dagster.testing import run_tasks

    result = run_tasks("""
id: t
namespace: company.team
tasks:
  - {id: toggle, type: io.kestra.plugin.core.trigger.Toggle, trigger: hourly}
""", tmp_path)
    assert result.state == "FAILED"
    assert "acts on the Dagster instance" in " ".join(result.messages())


def test_purge_logs_works_on_an_ephemeral_instance_too(tmp_path):
    """``kestra-dagster run`` without DAGSTER_HOME keeps its event log in memory (SQLite too)."""
    with dg.DagsterInstance.ephemeral() as memory:
        victim = run_writer(tmp_path, memory, "a", "company.team")
        out = execute(system_flow(tmp_path / "p", "p", """
  - {id: purge, type: io.kestra.plugin.core.log.PurgeLogs, endDate: "{{ now() }}"}
"""), instance=memory)
        assert out.state == "SUCCESS" and out.outputs["purge"]["count"] >= 2
        assert user_lines(memory, victim.run_id) == []


def test_a_paused_then_resumed_execution_is_purged_as_one(tmp_path, instance):
    """Its part runs share one execution id: one execution counted, every part deleted."""
    from kestra_dagster.approvals.api import decide

    flows = tmp_path / "flows"
    write(flows, "paused", PAUSED)
    defs = build_definitions([flows])
    paused_job = next(j for j in defs.resolve_all_job_defs() if j.name.startswith("company_team__paused")
                      and "__after_" not in j.name)
    part1 = paused_job.execute_in_process(instance=instance).run_id
    decide(instance, part1, True, "alice", inputs={"digest": "sha256:1"})
    sensor = next(s for s in defs.sensors if s.name.endswith("__resume"))
    (request,) = sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).run_requests
    part2 = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags).run_id
    purger = execute(system_flow(tmp_path / "p", "p", """
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: company.team
    endDate: "{{ now() }}"
"""), instance=instance)
    assert purger.outputs["purge"]["executionsCount"] == 1
    assert instance.get_run_by_id(part1) is None and instance.get_run_by_id(part2) is None
