"""Flow trigger evaluation (what its run-status sensors call) on runs as Dagster reports them:
states, execution conditions, preconditions across flows and MultipleCondition windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from kestra_dagster.compiler.definitions import build_definitions, load_catalog
from kestra_dagster.compiler.naming import label_tag
from kestra_dagster.compiler.triggers import flow_trigger_evaluator, kestra_state_of

UPSTREAM = """
id: {id}
namespace: company.team
tasks: [{{id: t, type: io.kestra.plugin.core.log.Log, message: hi}}]
"""
LISTENER = """
id: listener
namespace: company.team
inputs:
  - {id: from, type: STRING, defaults: none}
tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: "{{ inputs.from }}"}]
triggers:
  - id: both-done
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      from: "{{ trigger.flowId }}:{{ trigger.state }}"
    preconditions:
      id: both
      flows:
        - {namespace: company.team, flowId: extract, states: [SUCCESS]}
        - {namespace: company.team, flowId: load, states: [SUCCESS, WARNING]}
  - id: any-failure
    type: io.kestra.plugin.core.trigger.Flow
    states: [FAILED, KILLED]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: company
        comparison: PREFIX
      - type: io.kestra.plugin.core.condition.ExecutionLabels
        labels: {team: data}
  - id: multiple
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
      - id: pair
        type: io.kestra.plugin.core.condition.MultipleCondition
        window: PT1H
        conditions:
          a: {type: io.kestra.plugin.core.condition.ExecutionFlow, namespace: company.team, flowId: extract}
          b: {type: io.kestra.plugin.core.condition.ExecutionFlow, namespace: company.team, flowId: transform}
"""


@dataclass
class FakeRun:
    """The fields of a DagsterRun that the evaluator reads."""

    flow_id: str
    state: str
    status: dg.DagsterRunStatus = dg.DagsterRunStatus.SUCCESS
    labels: dict = field(default_factory=dict)
    run_id: str = ""

    def __post_init__(self):
        self.run_id = self.run_id or f"run-{self.flow_id}-{self.state}-{id(self)}"
        self.tags = {"kestra/flow": f"company.team.{self.flow_id}", "kestra/namespace": "company.team",
                     "kestra/flow_id": self.flow_id, "kestra/state": self.state,
                     **{label_tag(k): v for k, v in self.labels.items()}}


@pytest.fixture()
def evaluators(tmp_path: Path):
    for name in ("extract", "load", "transform"):
        (tmp_path / f"{name}.yaml").write_text(UPSTREAM.format(id=name))
    (tmp_path / "listener.yaml").write_text(LISTENER)
    catalog = load_catalog([tmp_path])
    compiled = catalog.flows["company.team.listener"]
    instance = dg.DagsterInstance.ephemeral()
    out = {t.id: (lambda run, t=t: flow_trigger_evaluator(compiled, t, t.states or [
        "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED"])(instance, run))
        for t in compiled.flow.triggers}
    yield out, build_definitions([tmp_path])
    instance.dispose()


def fired(result) -> bool:
    return isinstance(result, dg.RunRequest)


def test_sensors_watch_the_right_jobs_and_statuses(evaluators):
    _, defs = evaluators
    names = sorted(s.name for s in defs.sensors if s.name.startswith("company_team__listener"))
    assert "company_team__listener__any_failure__on_failure" in names
    assert "company_team__listener__any_failure__on_canceled" in names
    assert "company_team__listener__any_failure__on_success" not in names
    both = defs.resolve_sensor_def("company_team__listener__both_done__on_success")
    assert isinstance(both, dg.RunStatusSensorDefinition)


def test_preconditions_fire_once_both_flows_are_done(evaluators):
    ev, _ = evaluators
    both = ev["both-done"]
    assert not fired(both(FakeRun("extract", "SUCCESS")))  # waiting for load
    assert not fired(both(FakeRun("load", "FAILED")))  # load must be SUCCESS or WARNING
    request = both(FakeRun("load", "WARNING"))
    assert fired(request)
    assert request.run_config["inputs"] == {"from": "load:WARNING"}
    assert request.run_config["trigger"]["flowId"] == "load"
    assert not fired(both(FakeRun("load", "SUCCESS")))  # reset after firing: extract again first


def test_state_and_execution_conditions(evaluators):
    ev, _ = evaluators
    failure = ev["any-failure"]
    assert fired(failure(FakeRun("extract", "FAILED", dg.DagsterRunStatus.FAILURE, labels={"team": "data"})))
    assert not fired(failure(FakeRun("extract", "FAILED", dg.DagsterRunStatus.FAILURE, labels={"team": "web"})))
    assert not fired(failure(FakeRun("extract", "SUCCESS", labels={"team": "data"})))
    killed = FakeRun("load", "FAILED", dg.DagsterRunStatus.CANCELED, labels={"team": "data"})
    assert kestra_state_of(killed) == "KILLED" and fired(failure(killed))
    assert not fired(failure(FakeRun("listener", "FAILED", labels={"team": "data"})))  # never itself


def test_multiple_condition_within_window(evaluators):
    ev, _ = evaluators
    multiple = ev["multiple"]
    assert not fired(multiple(FakeRun("extract", "SUCCESS")))
    assert not fired(multiple(FakeRun("transform", "FAILED")))  # ExecutionStatus in [SUCCESS] filters it out
    assert fired(multiple(FakeRun("transform", "SUCCESS")))
