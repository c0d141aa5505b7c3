"""Core execution tasks end to end: Assert."""

from __future__ import annotations

import pytest

from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import parse_flow

from .conftest import dump


def test_assert_passes_when_every_condition_holds(run_flow):
    out = run_flow("execution", "assert.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.task_states == {"check": "SUCCESS", "after": "SUCCESS"}
    assert out.summary["metrics"]["check"] == [
        {"name": "success", "type": "counter", "value": 3, "count": 1, "tags": {}},
        {"name": "failed", "type": "counter", "value": 0, "count": 1, "tags": {}}]


def test_assert_fails_naming_each_false_condition(run_flow):
    out = run_flow("execution", "assert.yaml", inputs={"param": "x"})
    assert out.state == "FAILED", dump(out)
    assert out.task_states == {"check": "FAILED"}
    assert out.run("check").error == "2 assertions failed: param was x"
    text = out.log_text()
    assert "assertion `{{ inputs.param == 'ok' }}` failed" in text
    assert "assertion `{{ inputs.param | length > 1 }}` failed" in text
    assert out.steps("STEP_FAILURE") == ["check"]


@pytest.mark.parametrize("body, path, message", [
    ("    conditions: \"{{ true }}\"\n", "tasks[0].conditions", "list"),
    ("    errorMessage: oops\n", "tasks[0].conditions", "required"),
])
def test_assert_bad_properties_are_located(body, path, message):
    text = ("id: a\nnamespace: tests.execution\ntasks:\n  - id: check\n"
            "    type: io.kestra.plugin.core.execution.Assert\n" + body)
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="assert.yaml")
    [issue] = info.value.issues
    assert issue.path == path and issue.line >= 4
    assert message in issue.message
