"""HasRetryAttempt on a Flow trigger, against real runs of a real Dagster instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from kestra_dagster.compiler.definitions import load_catalog
from kestra_dagster.compiler.triggers import flow_trigger_evaluator
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import parse_flow

UPSTREAM = """
id: {id}
namespace: company.team
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{{{ taskrun.attemptsCount < {failures} }}}}"
    retry: {{type: constant, interval: PT0.05S, maxAttempt: 3}}
"""
LISTENER = """
id: listener
namespace: company.team
tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: hi}]
triggers:
  - id: retried-failed
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.HasRetryAttempt
        in: [FAILED]
  - id: retried-killed
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.HasRetryAttemptCondition  # Kestra's alias
        in: [KILLED]
  - id: not-retried
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - type: io.kestra.plugin.core.condition.HasRetryAttempt
"""


@pytest.fixture()
def setup(tmp_path: Path):
    (tmp_path / "retried.yaml").write_text(UPSTREAM.format(id="retried", failures=2))
    (tmp_path / "steady.yaml").write_text(UPSTREAM.format(id="steady", failures=1))
    (tmp_path / "listener.yaml").write_text(LISTENER)
    catalog = load_catalog([tmp_path])
    with dg.DagsterInstance.ephemeral() as instance:
        yield catalog, instance


def _run(catalog, instance, flow_id: str):
    result = catalog.flows[f"company.team.{flow_id}"].job.execute_in_process(instance=instance, raise_on_error=False)
    return instance.get_run_by_id(result.run_id)


def test_has_retry_attempt_sees_the_attempts_of_the_ended_execution(setup):
    catalog, instance = setup
    listener = catalog.flows["company.team.listener"]
    evaluate = {t.id: flow_trigger_evaluator(listener, t, ["SUCCESS", "FAILED"]) for t in listener.flow.triggers}
    retried = _run(catalog, instance, "retried")  # attempt 1 fails, attempt 2 succeeds
    steady = _run(catalog, instance, "steady")  # attempt 1 succeeds
    assert retried.tags["kestra/state"] == steady.tags["kestra/state"] == "SUCCESS"
    assert isinstance(evaluate["retried-failed"](instance, retried), dg.RunRequest)
    assert isinstance(evaluate["retried-killed"](instance, retried), dg.SkipReason)
    assert isinstance(evaluate["retried-failed"](instance, steady), dg.SkipReason)
    assert isinstance(evaluate["not-retried"](instance, steady), dg.RunRequest)
    assert isinstance(evaluate["not-retried"](instance, retried), dg.SkipReason)


def test_has_retry_attempt_unknown_state_is_a_located_error():
    text = LISTENER.replace("in: [KILLED]", "in: [KILED]")
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="listener.yaml")
    [issue] = info.value.issues
    assert issue.path == "triggers[1]" and issue.line == 11  # the trigger; the message names the condition
    assert issue.message.startswith("conditions[0]: in: unknown state 'KILED'; expected one of CREATED, RUNNING")


def test_has_retry_attempt_is_refused_where_no_execution_ended():
    text = ("id: s\nnamespace: company.team\ntasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: hi}]\n"
            "triggers:\n  - id: daily\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: '@daily'\n"
            "    conditions:\n      - type: io.kestra.plugin.core.condition.HasRetryAttempt\n")
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="s.yaml")
    assert "is not supported on this trigger" in info.value.issues[0].message
